"""A local nginx in front of byok-chat replicas, pinned the way deploy/nginx.conf pins.

The routing rule is the example's (a consistent hash of the ``byok_route`` cookie, set from the
request id when absent); only ports, paths and logging differ. It also reports which replica
answered (``X-Upstream``), so the benchmark can check that a session stays on one replica.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.procs import WORKDIR, free_port

COOKIE = "byok_route"

_CONFIG = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    map $cookie_{cookie} $byok_route {{
        ""      $request_id;
        default $cookie_{cookie};
    }}
    upstream byok_chat {{
        hash $byok_route consistent;
        {servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://byok_chat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
            add_header Set-Cookie "{cookie}=$byok_route; Path=/; HttpOnly; SameSite=Lax" always;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]
    url: str

    def cpu(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        total = times.user + times.system
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_proxy(upstreams: list[str]) -> Proxy:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    servers = "\n        ".join(f"server {u.removeprefix('http://')};" for u in upstreams)
    conf = WORKDIR / f"nginx-{port}.conf"
    conf.write_text(_CONFIG.format(dir=WORKDIR, cookie=COOKIE, servers=servers, port=port))
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(WORKDIR)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/config", timeout=2.0)
            return Proxy(proc, url)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start")


def check_pinning(url: str, visitors: int = 20, requests_each: int = 5) -> tuple[int, set[str]]:
    """Browser-like visitors: load the page with no cookie, then reuse the cookie nginx set.

    Returns how many visitors stayed on one replica for all their requests, and which replicas
    served the first page loads (so both are in use).
    """
    pinned = 0
    first_hops: set[str] = set()
    for _ in range(visitors):
        with httpx.Client(base_url=url, timeout=10.0) as browser:
            page = browser.get("/")
            hops = {page.headers.get("x-upstream", "")}
            first_hops |= hops
            for _ in range(requests_each):
                hops.add(browser.get("/config").headers.get("x-upstream", ""))
            pinned += len(hops) == 1 and COOKIE in browser.cookies
    return pinned, first_hops
