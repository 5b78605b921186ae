"""The HTTP transport under every provider request: httpx2's own, with two changes, and the event
loop's shared pool over it.

httpcore closes the connections it drops (keep-alives past their expiry, idle ones over the cap)
one after another inside whichever request noticed them, and each close waits for a turn of the
event loop. After a quiet spell every idle connection expires together, so the first chat of the
next busy moment waited for all of them before its request was even sent: with 200 idle
connections and the loop busy with 200 chats, about 2 s (bench/RESULTS.md). Closed together they
cost that request one turn.

An error answer's body is cut at ``MAX_ERROR_BODY``. The openai SDK reads an error body to its end
before it raises; a provider (or a visitor's own endpoint) answering 500 with gigabytes, or with a
body that never ends, would otherwise hold that memory, or the chat, for as long as it liked.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator

import httpcore2
import httpx2

__all__ = ["MAX_ERROR_BODY", "PoolTransport", "close_shared_pool", "shared_pool"]

# The most of an error body anyone reads: enough for any provider's JSON error, not a flood.
MAX_ERROR_BODY = 64 * 1024


class _PromptlyClosingPool(httpcore2.AsyncConnectionPool):
    async def _close_connections(self, closing: list[httpcore2.AsyncConnectionInterface]) -> None:
        if closing:
            # Shielded, as httpcore's own is: a stopped chat still closes what it took out of the pool.
            await asyncio.shield(asyncio.gather(*(c.aclose() for c in closing), return_exceptions=True))


class _CappedBody(httpx2.AsyncByteStream):
    """At most ``limit`` bytes of a body; the rest is never read (its connection is then closed,
    not reused)."""

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        left = self._limit
        async for block in self._stream:
            if len(block) >= left:
                if left:
                    yield block[:left]
                return
            left -= len(block)
            yield block

    async def aclose(self) -> None:
        await self._stream.aclose()


class PoolTransport(httpx2.AsyncHTTPTransport):
    """``httpx2.AsyncHTTPTransport`` over a pool that closes dropped connections together, whose
    error answers (any status but 2xx) carry at most ``MAX_ERROR_BODY`` bytes of body.

    ``network_backend`` lets the visitor-URL guard put its own connect step under the same pool.
    """

    def __init__(
        self,
        *,
        limits: httpx2.Limits,
        network_backend: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits)
        # AsyncHTTPTransport takes no pool or backend argument: its pool is replaced with one
        # built the same way (its TLS context included).
        self._pool = _PromptlyClosingPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        if not 200 <= response.status_code < 300:
            response.stream = _CappedBody(response.stream, MAX_ERROR_BODY)  # type: ignore[arg-type]
        return response


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = weakref.WeakKeyDictionary()


def shared_pool() -> httpx2.AsyncClient:
    """The event loop's shared connection pool (an httpx client is bound to one loop)."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None or pool.is_closed:
        pool = httpx2.AsyncClient(
            transport=PoolTransport(limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=200)),
            # A provider API has no reason to redirect a POST; following one could carry the
            # request body to a host the operator never configured.
            follow_redirects=False,
        )
        _POOLS[loop] = pool
    return pool


async def close_shared_pool() -> None:
    pool = _POOLS.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.aclose()
