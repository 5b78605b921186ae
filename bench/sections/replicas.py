"""6. Past one process."""

from __future__ import annotations

import asyncio
import math

from bench import client
from bench.procs import Server, start_app
from bench.proxy import Proxy, check_pinning, nginx_binary, start_proxy
from bench.report import median, num
from bench.sections.common import LABEL, Bench, Burst, Target, burst, summarize


async def section_replicas(b: Bench) -> None:
    r = b.report
    levels = b.sizes.replica_levels
    r.text(
        f"## 6. Two replicas behind a sticky nginx vs one process ({', '.join(map(str, levels))} simultaneous chats)"
    )
    r.text()
    if nginx_binary() is None:
        r.text("Skipped: nginx is not installed (`apt-get install nginx-light`).")
        r.text()
        return
    started: list[Server] = []
    proxies: dict[str, Proxy] = {}
    try:
        setups: dict[str, Target] = {}
        for name in b.byoks():
            replicas = [await asyncio.to_thread(start_app, b.specs[name], b.fake.url) for _ in range(2)]
            started += replicas
            label = LABEL[name]
            setups[f"{label}: 1 process"] = Target(name, b.raw_chat(b.endpoints[name]), [b.apps[name]])
            if name == "byok":
                proxies[f"{label}: 1 process via nginx"] = start_proxy([b.apps[name].url])
            proxies[f"{label}: 2 replicas via nginx"] = start_proxy([x.url for x in replicas])
            for setup, proxy in proxies.items():
                if setup.startswith(f"{label}:") and setup not in setups:
                    endpoint = await client.discover(b.http, proxy.url)
                    cpu_of = replicas if "2 replicas" in setup else [b.apps[name]]
                    setups[setup] = Target(setup, b.raw_chat(endpoint, cookie=True), cpu_of)
        two = proxies[f"{LABEL['byok']}: 2 replicas via nginx"]
        pinned, hops = await asyncio.to_thread(check_pinning, two.url)
        rows = await replica_rows(b, setups, proxies)
        r.table(
            ["chats", "setup", "wall s", "TTFT p50 ms", "TTFT p95 ms", "ok", "app CPU ms/chat", "nginx CPU ms/chat"],
            rows,
        )
        r.text(f"Pinning check: {pinned}/20 browser-like visitors (page load without a cookie, then 5 requests with")
        r.text(f"the cookie nginx set) stayed on one replica; first page loads landed on {len(hops)} replica(s).")
        r.text("The benchmark's chats send the routing cookie a browser would hold (its session hash as value).")
        r.text()
    finally:
        for proxy in proxies.values():
            proxy.stop()
        for replica in started:
            replica.stop()


async def replica_rows(b: Bench, setups: dict[str, Target], proxies: dict[str, Proxy]) -> list[list[str]]:
    rows = []
    for level in b.sizes.replica_levels:
        found: dict[str, list[tuple[Burst, float]]] = {}
        for repeat in range(b.sizes.repeats):
            names = list(setups)
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                proxy = proxies.get(name)
                proxy_before = proxy.cpu() if proxy else math.nan
                result = await burst(b, setups[name], level)
                proxy_cpu = proxy.cpu() - proxy_before if proxy else math.nan
                found.setdefault(name, []).append((result, proxy_cpu))
                await asyncio.sleep(0.5)
        for name in setups:
            bursts = [x for x, _ in found[name]]
            nginx = median(p / level * 1000 for _, p in found[name])
            rows.append([str(level), name, *summarize(bursts)[:5], num(nginx, 1)])
            errors = sorted({e for x in bursts for e in x.errors})
            if errors:
                b.report.text(f"- {name} at {level}: failures: {'; '.join(errors)[:300]}")
    return rows
