"""4. Memory."""

from __future__ import annotations

import asyncio
import secrets

from bench import client
from bench.client import Endpoint
from bench.procs import Server, start_app
from bench.report import num
from bench.sections.common import LABEL, Bench

MB = 1024 * 1024


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
