"""In Chromium, as a visitor would: a reply whose tab is closed midway, and one stopped while the
model is still thinking, are both counted against the server key's quota."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.browser_helpers import BOT, STOP, WAIT_MS, ChatPage
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

CLIENT = "ip:127.0.0.1"
LONG_MESSAGE = " ".join(f"word{i}" for i in range(60))


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _usage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "byok_chat.usage" and "chat client=" in r.getMessage()]


@pytest.fixture
def running(launch: Callable[..., RunningApp], settings_for: Callable[..., object]) -> RunningApp:
    return launch(settings_for(GROQ_API_KEY=canary("browser-usage"), DAILY_TOKEN_LIMIT="100000"))


def test_closing_the_tab_mid_reply_still_counts_the_reply(
    running: RunningApp,
    tabs: Callable[[str], ChatPage],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    chat = tabs(running.url)
    chat.set_model("echo-20")
    chat.chat("hello")
    expect(chat.page.locator("#usage")).to_contain_text("1 chat,", timeout=WAIT_MS)
    before = running.service.usage_today(CLIENT).tokens
    assert before > 0

    chat.set_model("echo-150")
    chat.send(LONG_MESSAGE)
    expect(chat.last_bot()).to_contain_text("word5", timeout=WAIT_MS)
    chat.page.context.close()

    assert _wait_for(lambda: running.service.usage_today(CLIENT).requests == 2)
    assert _wait_for(lambda: len(_usage_lines(caplog)) == 2)
    stopped = _usage_lines(caplog)[1]
    assert "outcome=stopped" in stopped and "(estimated)" in stopped, stopped
    # The long prompt alone is over 60 tokens.
    assert running.service.usage_today(CLIENT).tokens > before + 60
    assert provider.wait_idle(10)


def test_stop_while_the_model_thinks_still_counts_the_reply(
    running: RunningApp,
    tabs: Callable[[str], ChatPage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    chat = tabs(running.url)
    chat.set_model("reason-content-300")
    chat.send(LONG_MESSAGE)
    expect(chat.page.locator(BOT).filter(has_text="Thinking").last).to_contain_text("Let me think", timeout=WAIT_MS)
    chat.page.locator(STOP).first.click()
    chat.wait_done()

    assert _wait_for(lambda: len(_usage_lines(caplog)) == 1)
    line = _usage_lines(caplog)[0]
    assert "outcome=stopped" in line and "(estimated)" in line, line
    usage = running.service.usage_today(CLIENT)
    assert usage.requests == 1 and usage.tokens > 60
    # The usage line under the chat shows it.
    expect(chat.page.locator("#usage")).to_contain_text(f"{usage.tokens:,} of 100,000 tokens", timeout=WAIT_MS)
