"""A visitor's key is gone when their tab closes, not an hour later."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from config.keys import SessionKeys
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider


def _held_keys(running: RunningApp, session_hash: str) -> list[SessionKeys]:
    holder = running.demo.state_holder  # type: ignore[attr-defined]
    if session_hash not in holder:
        return []
    values = holder.session_data[session_hash].state_data.values()
    return [value for value in values if isinstance(value, SessionKeys)]


def test_closing_the_tab_forgets_the_visitor_key(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Gradio notices a closed tab at the next heartbeat; make that come sooner.
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
    running = launch(settings_for())
    visit = raw.open_page(running.url)
    session_hash = visit.session_hash
    visitor_key = canary("visitor")
    stop_heartbeat = threading.Event()

    def heartbeat() -> None:
        # The browser holds this stream open for as long as the tab lives.
        url = f"{running.url}/gradio_api/heartbeat/{session_hash}"
        with httpx.stream("GET", url, headers=visit.headers, timeout=30) as stream:
            for _ in stream.iter_bytes():
                if stop_heartbeat.is_set():
                    return

    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    cfg = raw.config(running.url)
    captured = raw.run_event(
        running.url,
        raw.fn_index(cfg, "capture_key"),
        ["openai", None, None, visitor_key],
        session_hash=session_hash,
        headers=visit.headers,
    )
    assert captured.success and captured.output is not None
    assert "set for this browser session only" in captured.output[0]
    chat = raw.run_event(
        running.url,
        raw.fn_index(cfg, "chat"),
        raw.chat_data(cfg, "hi", "openai", "m"),
        session_hash=session_hash,
        headers=visit.headers,
    )
    assert chat.success
    assert provider.chat_requests[-1].authorization == f"Bearer {visitor_key}"
    assert [keys.get("openai") is not None for keys in _held_keys(running, session_hash)] == [True]

    stop_heartbeat.set()
    beating.join(30)
    assert not beating.is_alive()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(len(keys) for keys in _held_keys(running, session_hash)):
        time.sleep(0.1)
    assert not any(len(keys) for keys in _held_keys(running, session_hash))
