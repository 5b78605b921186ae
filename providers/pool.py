"""The HTTP transport under every provider request: httpx2's own, with one change to its pool.

httpcore closes the connections it drops (keep-alives past their expiry, idle ones over the cap)
one after another inside whichever request noticed them, and each close waits for a turn of the
event loop. After a quiet spell every idle connection expires together, so the first chat of the
next busy moment waited for all of them before its request was even sent: with 200 idle
connections and the loop busy with 200 chats, about 2 s (bench/RESULTS.md). Closed together they
cost that request one turn.
"""

from __future__ import annotations

import asyncio

import httpcore2
import httpx2

__all__ = ["PoolTransport"]


class _PromptlyClosingPool(httpcore2.AsyncConnectionPool):
    async def _close_connections(self, closing: list[httpcore2.AsyncConnectionInterface]) -> None:
        if closing:
            # Shielded, as httpcore's own is: a stopped chat still closes what it took out of the pool.
            await asyncio.shield(asyncio.gather(*(c.aclose() for c in closing), return_exceptions=True))


class PoolTransport(httpx2.AsyncHTTPTransport):
    """``httpx2.AsyncHTTPTransport`` over a pool that closes dropped connections together.

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
