"""A second client that measures the server's event loop while a test attacks it: while one client
sends hostile requests, another's ``GET /config`` must keep answering promptly."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

# What the probe allows at p99 while another client attacks, on a quiet machine. On a shared,
# loaded one the quiet p99 alone can pass it, so the bound is also never below twice the p99 the
# same probe measures just before and just after the attack: still far under the seconds a
# blocked loop costs (one hostile PDF decoded on the loop put a 2.7 s answer in the probe).
PROMPT_SECONDS = 0.25


@contextmanager
def config_probe(
    url: str, *, headers: dict[str, str] | None = None, interval: float = 0.02, max_samples: int = 3000
) -> Iterator[list[float]]:
    """Seconds each ``GET /config`` took while the block ran (a timeout counts as 10 s)."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=10, headers=headers or {}) as client:
            while not stop.is_set() and len(latencies) < max_samples:
                started = time.perf_counter()
                try:
                    client.get(f"{url}/config").raise_for_status()
                    latencies.append(time.perf_counter() - started)
                except httpx.TimeoutException:
                    latencies.append(10.0)
                stop.wait(interval)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        stop.set()
        thread.join(15)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def quiet_p99(url: str, headers: dict[str, str] | None = None, *, seconds: float = 3.0) -> float:
    with config_probe(url, headers=headers) as quiet:
        time.sleep(seconds)
    return p99(quiet)


@contextmanager
def stays_prompt(url: str, headers: dict[str, str] | None = None) -> Iterator[list[float]]:
    """Probe while the block runs, then assert the p99 stayed under :data:`PROMPT_SECONDS` (or
    twice the quiet p99 around it, on a loaded machine)."""
    before = quiet_p99(url, headers)
    with config_probe(url, headers=headers) as latencies:
        yield latencies
    assert len(latencies) >= 10, "the attack ended before the probe could measure it"
    seen = p99(latencies)
    if seen >= PROMPT_SECONDS:
        bound = max(PROMPT_SECONDS, 2 * before, 2 * quiet_p99(url, headers))
        assert seen < bound, f"p99 {seen:.3f}s over {bound:.3f}s; slowest: {sorted(latencies)[-5:]}"
