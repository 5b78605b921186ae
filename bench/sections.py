"""The six measurements. Each prints its own tables; none compares a number with a target."""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import openai

from bench import client
from bench.client import ChatResult, Endpoint
from bench.loadgen import ClientPool
from bench.procs import AppSpec, Server, start_app
from bench.proxy import COOKIE, Proxy, check_pinning, nginx_binary, start_proxy
from bench.report import Report, median, ms, num, pct, ratio

MB = 1024 * 1024
TTFT_PLAN = "chunks-4-10"  # a short reply: sequential TTFT runs stay quick
BURST_PLAN = "chunks-20-50"  # the brief's 1 s reply


@dataclass(frozen=True)
class Sizes:
    ttft_runs: int = 50
    warmup: int = 5
    levels: tuple[int, ...] = (1, 10, 50, 100, 200)
    loadchat_levels: tuple[int, ...] = (1, 10)
    repeats: int = 3
    lengths: tuple[int, ...] = (100, 1_000, 10_000)
    length_runs: int = 3
    sessions: int = 1_000
    session_batch: int = 100
    cold_runs: int = 5
    replica_levels: tuple[int, ...] = (100, 200)
    # From this many simultaneous chats on, the load comes from client worker processes
    # (bench/loadgen.py), so the client is not what a big burst measures.
    split_from: int = 100
    client_processes: int = 2


QUICK = Sizes(
    ttft_runs=10,
    warmup=2,
    levels=(1, 10, 50),
    repeats=1,
    lengths=(100, 1_000),
    length_runs=1,
    sessions=100,
    session_batch=50,
    cold_runs=2,
    replica_levels=(50,),
)


class Measured(Protocol):
    def cpu(self) -> float: ...


ChatFn = Callable[[str, str, int], Awaitable[ChatResult]]


@dataclass
class Target:
    """Something that runs one chat, and the processes whose CPU that chat costs."""

    name: str
    chat: ChatFn
    cpu_of: Sequence[Measured] = field(default_factory=list)
    # A Gradio app's chat endpoint: what client worker processes call in a split burst.
    endpoint: Endpoint | None = None


@dataclass
class Bench:
    fake: Server
    apps: dict[str, Server]
    endpoints: dict[str, Endpoint]
    http: httpx.AsyncClient
    sdk: openai.AsyncOpenAI
    report: Report
    sizes: Sizes
    specs: dict[str, AppSpec]
    pool: ClientPool | None = None

    def byoks(self) -> list[str]:
        """byok-chat, and the candidate checkout when one was given."""
        return [n for n in ("byok", "candidate") if n in self.apps]

    def target(self, name: str) -> Target:
        if name == "direct":
            return Target("openai SDK direct", self.direct_chat)
        endpoint = self.endpoints[name]
        return Target(name, self.raw_chat(endpoint), [self.apps[name]], endpoint)

    async def direct_chat(self, message: str, model: str, expected: int) -> ChatResult:
        return await client.chat_direct(self.sdk, model=model, message=message, expected_chunks=expected)

    def raw_chat(self, endpoint: Endpoint, *, cookie: bool = False) -> ChatFn:
        async def chat(message: str, model: str, expected: int) -> ChatResult:
            session = secrets.token_hex(8)
            # Behind the sticky proxy: the routing cookie a browser holds after its page load.
            headers = {"cookie": f"{COOKIE}={session}"} if cookie else None
            return await client.chat_raw(
                endpoint,
                message=message,
                model=model,
                expected_chunks=expected,
                session_hash=session,
                headers=headers,
            )

        return chat


def chunks_of(plan: str) -> int:
    match = re.fullmatch(r"chunks-(\d+)-(\d+)", plan)
    assert match is not None
    return int(match.group(1))


LABEL = {
    "byok": "byok-chat",
    "candidate": "byok-chat candidate",
    "bare": "bare ChatInterface",
    "loadchat": "gr.load_chat",
    "direct": "openai SDK direct",
    "thinking": "byok-chat, first half thinking",
}


# --- 1. time to first token, one chat at a time ------------------------------------------------


async def ttft_raw(b: Bench, names: Sequence[str]) -> dict[str, list[float]]:
    """Interleaved rounds, so drifting machine load hits every target alike."""
    targets = [b.target(n) for n in names]
    expected = chunks_of(TTFT_PLAN)
    found: dict[str, list[float]] = {n: [] for n in names}
    for round_index in range(b.sizes.warmup + b.sizes.ttft_runs):
        for name, target in zip(names, targets, strict=True):
            result = await target.chat(f"hello {TTFT_PLAN}", TTFT_PLAN, expected)
            if round_index >= b.sizes.warmup and result.ok and result.ttft is not None:
                found[name].append(result.ttft)
    return found


def ttft_gradio_client(b: Bench, names: Sequence[str]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for name in names:
        endpoint = b.endpoints[name]
        multimodal = endpoint.input_types[0] == "multimodaltextbox"
        runs = b.sizes.warmup + b.sizes.ttft_runs
        times = client.ttft_gradio_client(
            endpoint.url, endpoint.api_name, multimodal, message=f"hello {TTFT_PLAN}", model=TTFT_PLAN, runs=runs
        )
        found[name] = times[b.sizes.warmup :]
    return found


async def section_ttft(b: Bench) -> None:
    r = b.report
    r.text(f"## 1. Time to first token, one chat at a time ({b.sizes.ttft_runs} chats each, reply {TTFT_PLAN})")
    r.text()
    raw = await ttft_raw(b, ["direct", *b.byoks(), "loadchat", "bare"])
    gc = await asyncio.to_thread(ttft_gradio_client, b, [*b.byoks(), "loadchat", "bare"])
    floor50, floor95 = pct(raw["direct"], 50), pct(raw["direct"], 95)
    rows = []
    for client_name, table in (("raw", raw), ("gradio_client", gc)):
        for name, values in table.items():
            p50, p95 = pct(values, 50), pct(values, 95)
            shown = "-" if name == "direct" else client_name
            rows.append([LABEL[name], shown, ms(p50), ms(p95), ms(p50 - floor50), ms(p95 - floor95), str(len(values))])
    r.table(["target", "client", "TTFT p50 ms", "TTFT p95 ms", "added p50 ms", "added p95 ms", "n"], rows)
    r.text("Added = minus the direct SDK's p50/p95 (same fake, same run). The bare app calls no provider, so its")
    r.text("added time can be below zero: it is the framework's own cost minus the provider round trip.")
    r.text()


# --- 2. simultaneous chats ---------------------------------------------------------------------


@dataclass
class Burst:
    n: int
    wall: float
    ttfts: list[float]
    ok: int
    app_cpu: float
    fake_cpu: float
    client_cpu: float
    errors: list[str]

    @property
    def p50(self) -> float:
        return pct(self.ttfts, 50)

    @property
    def p95(self) -> float:
        return pct(self.ttfts, 95)


async def split_burst(b: Bench, target: Target, n: int, plan: str) -> Burst:
    """The same burst from the client worker processes; client CPU is theirs, summed."""
    assert b.pool is not None and target.endpoint is not None
    cpu_before = sum(p.cpu() for p in target.cpu_of)
    fake_before = b.fake.cpu()
    reports, start_at = await b.pool.burst(target.endpoint, plan, chunks_of(plan), n)
    wall = max(r.ended for r in reports) - start_at
    app_cpu = sum(p.cpu() for p in target.cpu_of) - cpu_before
    results = [x for r in reports for x in r.results]
    ttfts = [x.ttft for x in results if x.ok and x.ttft is not None]
    errors = sorted({x.error for x in results if not x.ok})
    client_cpu = sum(r.cpu for r in reports)
    return Burst(n, wall, ttfts, sum(x.ok for x in results), app_cpu, b.fake.cpu() - fake_before, client_cpu, errors)


async def burst(b: Bench, target: Target, n: int, plan: str = BURST_PLAN) -> Burst:
    if b.pool is not None and target.endpoint is not None and n >= b.sizes.split_from:
        return await split_burst(b, target, n, plan)
    expected = chunks_of(plan)
    cpu_before = sum(p.cpu() for p in target.cpu_of)
    fake_before, client_before = b.fake.cpu(), time.process_time()
    started = time.perf_counter()
    results = await asyncio.gather(*(target.chat(f"hello {plan}", plan, expected) for _ in range(n)))
    wall = time.perf_counter() - started
    app_cpu = sum(p.cpu() for p in target.cpu_of) - cpu_before
    ttfts = [x.ttft for x in results if x.ok and x.ttft is not None]
    errors = sorted({x.error for x in results if not x.ok})
    fake_cpu, client_cpu = b.fake.cpu() - fake_before, time.process_time() - client_before
    return Burst(n, wall, ttfts, sum(x.ok for x in results), app_cpu, fake_cpu, client_cpu, errors)


def summarize(bursts: list[Burst]) -> list[str]:
    """Median over repeats of each burst's numbers; successes summed over all repeats."""
    n = bursts[0].n
    wall = median(x.wall for x in bursts)
    return [
        num(wall),
        ms(median(x.p50 for x in bursts)),
        ms(median(x.p95 for x in bursts)),
        f"{sum(x.ok for x in bursts)}/{n * len(bursts)}",
        num(median(x.app_cpu / n * 1000 for x in bursts), 1),
        f"{median(x.fake_cpu / x.wall * 100 for x in bursts):.0f}%",
        f"{median(x.client_cpu / x.wall * 100 for x in bursts):.0f}%",
    ]


async def run_levels(b: Bench, names: Sequence[str], levels: Sequence[int]) -> dict[tuple[str, int], list[Burst]]:
    found: dict[tuple[str, int], list[Burst]] = {}
    for level in levels:
        for repeat in range(b.sizes.repeats):
            # Rotate the order each repeat: no target always runs right after a heavy one.
            order = list(names[repeat % len(names) :]) + list(names[: repeat % len(names)])
            for name in order:
                result = await burst(b, b.target(name), level)
                found.setdefault((name, level), []).append(result)
                await asyncio.sleep(0.5)
    return found


async def section_concurrency(b: Bench) -> dict[tuple[str, int], list[Burst]]:
    r = b.report
    sizes = b.sizes
    r.text(f"## 2. Simultaneous chats (reply {BURST_PLAN}: 20 chunks 50 ms apart), raw client")
    r.text()
    found = await run_levels(b, ["direct", *b.byoks(), "bare"], sizes.levels)
    found.update(await run_levels(b, ["loadchat"], sizes.loadchat_levels))
    header = [
        "chats",
        "target",
        "wall s",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "ok",
        "app CPU ms/chat",
        "fake CPU",
        "client CPU",
    ]
    rows = []
    for level in sizes.levels:
        for name in ("direct", *b.byoks(), "bare", "loadchat"):
            if (name, level) in found:
                rows.append([str(level), LABEL[name], *summarize(found[name, level])])
    r.table(header, rows)
    r.text(f"Medians over {sizes.repeats} repeats per cell (order rotated); ok counts every repeat. CPU columns: the")
    r.text("process's CPU time during the burst / chats (app), or / wall time (fake, client; 100% = one core).")
    if b.pool is not None:
        r.text(
            f"From {sizes.split_from} chats on, the Gradio apps' load came from {b.pool.size} client processes "
            "(bench/loadgen.py); their CPU is summed in the client column."
        )
    r.text(
        f"gr.load_chat ran only at {', '.join(map(str, sizes.loadchat_levels))} simultaneous chats: with its default"
    )
    r.text("concurrency limit of 1 it answers one chat at a time, so N chats take about N x its 1-chat wall time.")
    r.text()
    vs_floor(b, found)
    report_errors(b, found)
    return found


def vs_floor(b: Bench, found: dict[tuple[str, int], list[Burst]]) -> None:
    rows = []
    for name in b.byoks():
        for level in b.sizes.levels:
            ours, bare = found.get((name, level)), found.get(("bare", level))
            if not ours or not bare:
                continue
            lc = found.get(("loadchat", level))
            rows.append(
                [
                    str(level),
                    LABEL[name],
                    ratio(median(x.wall for x in ours), median(x.wall for x in bare)),
                    ratio(median(x.p95 for x in ours), median(x.p95 for x in bare)),
                    ratio(median(x.app_cpu for x in ours), median(x.app_cpu for x in bare)),
                    ratio(median(x.wall for x in lc), median(x.wall for x in ours)) if lc else "-",
                ]
            )
    b.report.table(
        ["chats", "app", "wall vs bare", "TTFT p95 vs bare", "app CPU vs bare", "load_chat wall vs app"], rows
    )


def report_errors(b: Bench, found: dict[tuple[str, int], list[Burst]]) -> None:
    for (name, level), bursts in found.items():
        errors = sorted({e for x in bursts for e in x.errors})
        if errors:
            b.report.text(f"- {LABEL[name]} at {level}: failures: {'; '.join(errors)[:300]}")
    b.report.text()


# --- 3. long replies ---------------------------------------------------------------------------


@dataclass
class Long:
    cpu: float
    stream_bytes: int
    events: int
    total: float
    ok: bool


async def one_long(b: Bench, name: str, chunks: int) -> Long:
    # "thinking" is byok-chat streaming reasoning chunks, then answer chunks: each kind's cost shows
    # against the plain row. Only the answer comes back to an API caller.
    plan, expected = (f"think-chunks-{chunks}-0", chunks // 2) if name == "thinking" else (f"chunks-{chunks}-0", chunks)
    name = "byok" if name == "thinking" else name
    app = b.apps[name]
    before = app.cpu()
    result = await b.raw_chat(b.endpoints[name])(f"hello {plan}", plan, expected)
    # The last SSE bytes leave before the generator is fully torn down: let it finish.
    await asyncio.sleep(0.2)
    return Long(
        app.cpu() - before - 0.2 * idle_cpu_rate(app), result.stream_bytes, result.events, result.total, result.ok
    )


_IDLE: dict[int, float] = {}


def idle_cpu_rate(app: Server) -> float:
    """CPU seconds per second the app burns with nothing to do (timers, heartbeats)."""
    return _IDLE.get(app.proc.pid, 0.0)


async def measure_idle(app: Server, seconds: float = 2.0) -> None:
    before = app.cpu()
    await asyncio.sleep(seconds)
    _IDLE[app.proc.pid] = (app.cpu() - before) / seconds


async def section_long(b: Bench) -> None:
    r = b.report
    sizes = b.sizes
    r.text(f"## 3. Long replies (chunks sent back to back), one chat at a time, {sizes.length_runs} runs each")
    r.text()
    names = [*b.byoks(), "thinking", "bare", "loadchat"]
    for app_name in dict.fromkeys("byok" if name == "thinking" else name for name in names):
        await measure_idle(b.apps[app_name])
    found: dict[tuple[str, int], list[Long]] = {}
    for chunks in sizes.lengths:
        for _ in range(sizes.length_runs):
            for name in names:
                found.setdefault((name, chunks), []).append(await one_long(b, name, chunks))
    rows = []
    for name in names:
        for chunks in sizes.lengths:
            runs = found[name, chunks]
            rows.append(
                [
                    LABEL[name],
                    f"{chunks:,}",
                    num(median(x.total for x in runs)),
                    num(median(x.cpu / chunks * 1e6 for x in runs), 1),
                    num(median(x.stream_bytes / chunks for x in runs), 1),
                    str(int(median(x.events for x in runs))),
                    f"{sum(x.ok for x in runs)}/{len(runs)}",
                ]
            )
    r.table(["target", "chunks", "reply s", "app CPU µs/chunk", "SSE bytes/chunk", "SSE events", "ok"], rows)
    long_ratios(b, found, names)


def long_ratios(b: Bench, found: dict[tuple[str, int], list[Long]], names: Sequence[str]) -> None:
    short, longest = b.sizes.lengths[0], b.sizes.lengths[-1]
    rows = []
    for name in names:
        cpu_short = median(x.cpu for x in found[name, short])
        cpu_long = median(x.cpu for x in found[name, longest])
        bytes_short = median(x.stream_bytes for x in found[name, short])
        bytes_long = median(x.stream_bytes for x in found[name, longest])
        marginal = (cpu_long - cpu_short) / (longest - short) * 1e6
        rows.append(
            [
                LABEL[name],
                ratio(cpu_long / longest, cpu_short / short),
                num(marginal, 1),
                ratio(bytes_long / longest, bytes_short / short),
                num((bytes_long - bytes_short) / (longest - short), 2),
            ]
        )
    b.report.table(
        [
            "target",
            f"CPU/chunk {longest:,} vs {short:,}",
            "marginal CPU µs/chunk",
            f"bytes/chunk {longest:,} vs {short:,}",
            "marginal bytes/chunk",
        ],
        rows,
    )
    b.report.text("Marginal = (cost at the longest reply - cost at the shortest) / extra chunks: the per-chunk cost")
    b.report.text("without each chat's fixed cost. App CPU has the app's idle CPU over the same time taken off.")
    b.report.text()


# --- 4. memory ---------------------------------------------------------------------------------


async def session_with_heartbeat(b: Bench, endpoint: Endpoint, holders: list[asyncio.Task[None]]) -> bool:
    session = secrets.token_hex(8)
    opened = asyncio.Event()
    holders.append(asyncio.create_task(client.hold_heartbeat(b.http, endpoint.url, session, opened)))
    await asyncio.wait_for(opened.wait(), 30)
    plan = "chunks-5-10"
    result = await client.chat_raw(
        endpoint, message=f"hello {plan}", model=plan, expected_chunks=5, session_hash=session
    )
    return result.ok


async def session_round(b: Bench, endpoint: Endpoint) -> tuple[int, list[asyncio.Task[None]]]:
    """N finished sessions whose heartbeats stay open (closing them is the caller's move)."""
    holders: list[asyncio.Task[None]] = []
    ok = 0
    for start in range(0, b.sizes.sessions, b.sizes.session_batch):
        batch = min(b.sizes.session_batch, b.sizes.sessions - start)
        ok += sum(await asyncio.gather(*(session_with_heartbeat(b, endpoint, holders) for _ in range(batch))))
    return ok, holders


async def close_all(holders: list[asyncio.Task[None]]) -> None:
    for task in holders:
        task.cancel()
    await asyncio.gather(*holders, return_exceptions=True)


async def sessions_rss(b: Bench, app: Server, endpoint: Endpoint) -> tuple[list[float], int]:
    """RSS (MB) after start, after warm-up, with N sessions open, 3 s and 10 s after closing them,
    then with a second N open and 3 s after closing those: growth that comes back in the second
    round is memory kept per session; growth that does not is the allocator's high-water mark."""
    rss = [app.rss() / MB]
    for _ in range(10):
        await client.chat_raw(endpoint, message="warm chunks-5-10", model="chunks-5-10", expected_chunks=5)
    rss.append(app.rss() / MB)
    ok, holders = await session_round(b, endpoint)
    await asyncio.sleep(2)
    rss.append(app.rss() / MB)
    await close_all(holders)
    await asyncio.sleep(3)
    rss.append(app.rss() / MB)
    await asyncio.sleep(7)
    rss.append(app.rss() / MB)
    more, holders = await session_round(b, endpoint)
    await asyncio.sleep(2)
    rss.append(app.rss() / MB)
    await close_all(holders)
    await asyncio.sleep(3)
    rss.append(app.rss() / MB)
    return rss, ok + more


async def section_memory(b: Bench) -> None:
    r = b.report
    n = b.sizes.sessions
    r.text(f"## 4. Memory: {n:,} sessions with their heartbeat open ({b.sizes.session_batch} at a time), closed, twice")
    r.text()
    rows = []
    for name in (*b.byoks(), "bare"):
        app = await asyncio.to_thread(start_app, b.specs[name], b.fake.url)
        try:
            endpoint = await client.discover(b.http, app.url)
            rss, ok = await sessions_rss(b, app, endpoint)
        finally:
            app.stop()
        start, warm, full, _, closed10, full2, closed2 = rss
        rows.append(
            [
                LABEL[name],
                *(num(x, 1) for x in rss),
                f"{(closed10 / start - 1) * 100:+.0f}% / {(closed2 / start - 1) * 100:+.0f}%",
                f"{(full - warm) * 1024 / n:.1f}",
                f"{(full2 - closed10) * 1024 / n:.1f}",
                f"{ok}/{2 * n}",
            ]
        )
    r.table(
        [
            "app",
            "RSS start MB",
            "after 10 chats",
            f"{n:,} open",
            "3 s after close",
            "10 s after close",
            f"2nd {n:,} open",
            "3 s after close",
            "closed vs start (1st / 2nd)",
            "KB/session 1st",
            "KB/session 2nd",
            "ok",
        ],
        rows,
    )
    r.text("Fresh processes. Closing = ending each session's /gradio_api/heartbeat stream, as closing a tab does.")
    r.text("KB/session: RSS growth while a round's sessions are open / sessions (2nd: from the closed 1st round).")
    r.text()


# --- 5. cold start -----------------------------------------------------------------------------


def section_cold(b: Bench) -> None:
    r = b.report
    runs = b.sizes.cold_runs
    r.text(f"## 5. Cold start: process spawn to first HTTP 200 on / ({runs} runs each, interleaved)")
    r.text()
    names = (*b.byoks(), "bare", "loadchat")
    found: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(runs):
        for name in names:
            app = start_app(b.specs[name], b.fake.url)
            found[name].append(app.started_in)
            app.stop()
    bare = statistics.median(found["bare"])
    rows = [
        [LABEL[n], num(statistics.median(v)), num(min(v)), num(max(v)), ratio(statistics.median(v), bare)]
        for n, v in found.items()
    ]
    r.table(["app", "median s", "min s", "max s", "vs bare"], rows)


# --- 6. past one process -----------------------------------------------------------------------


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
