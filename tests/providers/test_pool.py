"""The provider pool closes the connections it drops together, not one per turn of the event loop.

After a quiet spell every idle connection expires at once, and the next request is the one that
closes them. httpcore's own pool awaits each close in turn, so on a busy loop that request waited
N turns before it was sent (bench/RESULTS.md: 2 s at 200 connections). The check counts loop turns,
not time: each close is stamped with the turn it began in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from providers.pool import PoolTransport
from tests.fake_provider import FakeProvider

CONNECTIONS = 20


class TurnCounter:
    def __init__(self) -> None:
        self.turns = 0
        self._running = True

    async def run(self) -> None:
        while self._running:
            self.turns += 1
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._running = False


class StampedStream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream, backend: StampingBackend) -> None:
        self._inner = inner
        self._backend = backend

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        self._backend.close_turns.append(self._backend.counter.turns)
        await self._inner.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class StampingBackend(httpcore2.AsyncNetworkBackend):
    """The default backend, with each stream's close stamped with the loop turn it began in."""

    def __init__(self, counter: TurnCounter) -> None:
        self.counter = counter
        self.close_turns: list[int] = []
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return StampedStream(stream, self)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=0.05)


def ours(backend: StampingBackend) -> httpx2.AsyncBaseTransport:
    return PoolTransport(limits=LIMITS, network_backend=backend)


def httpcores_own(backend: StampingBackend) -> httpx2.AsyncBaseTransport:
    transport = httpx2.AsyncHTTPTransport(limits=LIMITS)
    transport._pool = httpcore2.AsyncConnectionPool(
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry,
        network_backend=backend,
    )
    return transport


async def closes_after_quiet_spell(fake: FakeProvider, make_transport: Any) -> tuple[list[int], int]:
    """Fill the pool, let every connection expire, send one request; (close turns, its status)."""
    counter = TurnCounter()
    backend = StampingBackend(counter)
    ticking = asyncio.create_task(counter.run())
    url = f"{fake.base_url}/models"
    try:
        async with httpx2.AsyncClient(transport=make_transport(backend)) as client:
            # Every response held open until all have arrived: one connection each, however fast
            # the server answers (a finished request would hand its connection to the next).
            async with contextlib.AsyncExitStack() as held:
                opening = (held.enter_async_context(client.stream("GET", url)) for _ in range(CONNECTIONS))
                answers = await asyncio.gather(*opening)
                assert [a.status_code for a in answers] == [200] * CONNECTIONS
                # Read to the end, so each connection goes back to the pool to idle (not closed).
                await asyncio.gather(*(a.aread() for a in answers))
            time.sleep(LIMITS.keepalive_expiry * 2)  # a quiet spell: every idle connection expires
            backend.close_turns.clear()
            status = (await client.get(url)).status_code
            return list(backend.close_turns), status
    finally:
        counter.stop()
        await ticking


def turn_span(turns: list[int]) -> int:
    return max(turns) - min(turns)


def test_expired_connections_close_together(fake: FakeProvider) -> None:
    turns, status = asyncio.run(closes_after_quiet_spell(fake, ours))
    assert status == 200
    assert len(turns) >= CONNECTIONS - 1  # the new request may reuse none: all expired
    assert turn_span(turns) <= 1, turns


def test_httpcores_own_pool_closes_one_per_turn(fake: FakeProvider) -> None:
    """The control: the same measurement tells the two pools apart. If httpcore ever closes them
    together itself, this fails, and providers/pool.py can go."""
    turns, status = asyncio.run(closes_after_quiet_spell(fake, httpcores_own))
    assert status == 200
    assert len(turns) >= CONNECTIONS - 1
    assert turn_span(turns) >= CONNECTIONS - 2, turns
