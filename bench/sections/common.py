"""What every section shares: the sizes, the targets a chat runs against, and the burst helpers
that sections 2 and 6 both use."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import openai

from bench import client
from bench.client import ChatResult, Endpoint
from bench.loadgen import ClientPool
from bench.procs import AppSpec, Server
from bench.proxy import COOKIE
from bench.report import Report, median, ms, num, pct

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
    transport_rounds: int = 5
    transport_chats: int = 100
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
    transport_rounds=2,
    transport_chats=30,
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
