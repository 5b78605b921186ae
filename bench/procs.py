"""Start and measure the processes under test: the fake provider and each app, as subprocesses.

Every app runs as its own process so its CPU time and RSS are its own. Apps start in an empty
temporary directory with key-like variables removed from their environment, so a developer's
``.env`` or shell keys never reach the benchmark.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.client import BENCH_KEY

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = Path(tempfile.mkdtemp(prefix="byok-bench-"))
# The same list tests/conftest.py clears: anything that could carry a key or redirect a provider.
_CLEARED = re.compile(
    r".*_API_KEY|.*_BASE_URL|HF_TOKEN|OPENAI_.*|CUSTOM_.*|DEFAULT_(PROVIDER|MODEL)|SYSTEM_PROMPT"
    r"|REQUEST_TIMEOUT|ACCESS_CODE.*|RATE_LIMIT.*|DAILY_TOKEN_LIMIT|TRUSTED_PROXIES|ALLOW_.*"
    r"|ALLOWED_HF_.*|GRADIO_SERVER_(NAME|PORT)|MAX_.*|UPLOAD_LIMIT_MB|CONCURRENCY_LIMIT|QUEUE_MAX_SIZE"
)
APPS = ("byok", "bare", "loadchat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _CLEARED.fullmatch(k)}
    env.update(GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    started_in: float
    log: Path

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        """User + system CPU seconds of the process so far (all its threads)."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_fake() -> Server:
    log = WORKDIR / "fake.log"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fake", "--port", "0"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().split()
    if len(line) != 2 or line[0] != "ready":
        proc.kill()
        raise RuntimeError("the fake provider did not start")
    return Server("fake", proc, f"http://127.0.0.1:{line[1]}/v1", time.perf_counter() - started, log)


@dataclass(frozen=True)
class AppSpec:
    """Which app to run: ``kind`` is byok, bare or loadchat; ``root`` the tree its files come
    from (another checkout, to compare a proposed change); ``env`` extra environment."""

    kind: str
    root: Path = ROOT
    env: tuple[tuple[str, str], ...] = ()


def app_command(spec: AppSpec, port: int, fake_url: str) -> tuple[list[str], dict[str, str]]:
    command, env = _base_command(spec.kind, spec.root, port, fake_url)
    env.update(dict(spec.env))
    # The app's own tree first, so a candidate checkout imports its own packages.
    env["PYTHONPATH"] = str(spec.root)
    return command, env


def _base_command(kind: str, root: Path, port: int, fake_url: str) -> tuple[list[str], dict[str, str]]:
    if kind == "byok":
        # A server key for Groq, pointed at the fake: the key box is hidden, as in production.
        # Quotas and the upload budget stay on (their checks are part of the cost) but far above the load.
        env = clean_env(
            GROQ_BASE_URL=fake_url,
            GROQ_API_KEY=BENCH_KEY,
            DEFAULT_PROVIDER="groq",
            RATE_LIMIT="10000000/minute",
            DAILY_TOKEN_LIMIT=str(10**12),
            UPLOAD_LIMIT_MB="10000000/hour",
            # Every simulated visitor comes from loopback: one client address for all of them.
            MAX_CHATS_PER_CLIENT="10000",
        )
        return [sys.executable, str(root / "app.py"), "--port", str(port)], env
    if kind == "bare":
        return [sys.executable, str(ROOT / "bench" / "bare_app.py"), "--port", str(port)], clean_env()
    if kind == "loadchat":
        script = str(ROOT / "bench" / "loadchat_app.py")
        return [sys.executable, script, "--port", str(port), "--base-url", fake_url], clean_env()
    raise ValueError(kind)


def start_app(spec: AppSpec, fake_url: str, *, port: int | None = None, timeout: float = 90.0) -> Server:
    """Spawn the app and wait for its first HTTP 200 on ``/``; ``started_in`` is that wait."""
    port = port or free_port()
    command, env = app_command(spec, port, fake_url)
    log = WORKDIR / f"{spec.kind}-{port}.log"
    with log.open("wb") as sink:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=WORKDIR, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    elapsed = wait_ready(proc, url, started, timeout)
    return Server(spec.kind, proc, url, elapsed, log)


def wait_ready(proc: subprocess.Popen[bytes], url: str, started: float, timeout: float) -> float:
    with httpx.Client(timeout=2.0) as http:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the app exited with {proc.returncode}")
            try:
                if http.get(f"{url}/").status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"{url}: no HTTP 200 within {timeout:.0f} s")
