"""One running app per test module, driven by raw queue calls, with a view of what it leaves running.

The fault, bad-input and soak checks need the same things: launch the app the way app.py does,
call the chat event with any data (or any bytes), and count the app's asyncio tasks afterwards.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

import providers.pool as pool_module
from config.settings import Settings
from conversation.service import ChatService
from tests import gradio_raw
from tests.conftest import start_app


@dataclass
class LiveApp:
    url: str
    cfg: dict[str, Any]
    service: ChatService
    loop: asyncio.AbstractEventLoop
    baseline_tasks: int

    @property
    def chat_index(self) -> int:
        return gradio_raw.fn_index(self.cfg, "chat")

    def index(self, api_name: str) -> int:
        return gradio_raw.fn_index(self.cfg, api_name)

    def chat(
        self,
        model: object,
        *,
        provider: object = "groq",
        message: object = "hello there",
        session_hash: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> gradio_raw.EventResult:
        data = gradio_raw.chat_data(self.cfg, message, provider, model, **extra)
        return self.event(self.chat_index, data, session_hash=session_hash, headers=headers)

    def event(
        self,
        index: int,
        data: Any,
        *,
        session_hash: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> gradio_raw.EventResult:
        return gradio_raw.run_event(self.url, index, data, session_hash=session_hash, headers=headers, timeout=60)

    def event_bytes(self, index: int, data_json: str, *, session_hash: str | None = None) -> gradio_raw.EventResult:
        """Join with a hand-written JSON ``data`` array: lets a test send what json.dumps of a
        Python str cannot, such as a lone surrogate escape."""
        session_hash = session_hash or secrets.token_hex(6)
        body = (
            f'{{"data": {data_json}, "fn_index": {index}, "session_hash": {json.dumps(session_hash)}, '
            f'"event_data": null, "trigger_id": null}}'
        )
        with httpx.Client(timeout=60) as client:
            joined = client.post(
                f"{self.url}/gradio_api/queue/join",
                content=body.encode("ascii"),
                headers={"content-type": "application/json"},
            )
            if joined.status_code != 200:
                return gradio_raw.EventResult(status=joined.status_code, raw=joined.text)
            return gradio_raw._read_stream(client, self.url, session_hash)

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(5)

    def settle_tasks(self, limit: float = 5.0) -> int:
        """The app's task count once it is back at its baseline, or after ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while (count := self.tasks()) > self.baseline_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        return count


@contextmanager
def live_app(settings: Settings, *, warm_up_model: str = "fake-model") -> Iterator[LiveApp]:
    """Launch as app.py does; a first chat on the default provider finds the app's event loop."""
    running = start_app(settings)
    url, service, demo = running.url, running.service, running.demo
    try:
        cfg = gradio_raw.config(url)
        loops_before = set(pool_module._POOLS.keys())
        data = gradio_raw.chat_data(cfg, "warm up", settings.default_provider, warm_up_model)
        warm = gradio_raw.run_event(url, gradio_raw.fn_index(cfg, "chat"), data)
        assert warm.success, warm.raw
        # The chat adapter keeps one connection pool per event loop: the new one is the app's.
        (loop,) = set(pool_module._POOLS.keys()) - loops_before
        time.sleep(0.3)  # let the warm-up's event stream wind down before taking the baseline
        baseline = asyncio.run_coroutine_threadsafe(_task_count(), loop).result(5)
        yield LiveApp(url=url, cfg=cfg, service=service, loop=loop, baseline_tasks=baseline)
    finally:
        demo.close()


async def _task_count() -> int:
    return len(asyncio.all_tasks()) - 1
