"""A page stays usable while every chat slot is taken.

CONCURRENCY_LIMIT caps chats. Gradio also caps all jobs together (launch's max_threads), page
events included: with both at the same number, a full house of chats left a newcomer's page-load
events waiting until a chat ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider
from tests.gradio_raw import chat_data, config, fn_index, open_page, run_event_async

LIMIT = 40


def page_load_index(cfg: dict[str, Any]) -> int:
    """The page's own load step (key box, key status, usage line): the first with a server function."""
    return next(
        d["id"] for d in cfg["dependencies"] if d.get("backend_fn") and ["load"] in [t[1:] for t in d["targets"]]
    )


async def wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def load_during_full_house(app: RunningApp, fake: FakeProvider) -> tuple[int, bool]:
    cfg = config(app.url)
    chat, load = fn_index(cfg, "chat"), page_load_index(cfg)
    limits = httpx.Limits(max_connections=2 * LIMIT + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        # Replies that start and then go quiet: each holds its chat slot until it is closed.
        chats = [
            asyncio.create_task(run_event_async(client, app.url, chat, chat_data(cfg, "hi", "groq", "stall")))
            for _ in range(LIMIT)
        ]
        try:
            await wait_for(lambda: fake.open_streams >= LIMIT, 30)
            newcomer = open_page(app.url)
            async with httpx.AsyncClient(timeout=60, headers=newcomer.headers) as page:
                loaded = await asyncio.wait_for(
                    run_event_async(page, app.url, load, ["groq", None], session_hash=newcomer.session_hash), 15
                )
            return fake.open_streams, loaded.success
        finally:
            for task in chats:
                task.cancel()
            await asyncio.gather(*chats, return_exceptions=True)


def test_a_new_page_loads_while_every_chat_slot_is_taken(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    app = apps(GROQ_API_KEY=canary("server-groq"), CONCURRENCY_LIMIT=str(LIMIT))
    streaming, loaded = asyncio.run(load_during_full_house(app, provider))
    assert streaming >= LIMIT  # the chats were all still holding their slots
    assert loaded
