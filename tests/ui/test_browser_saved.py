"""Saved chats outlive the app: one browser profile, kept on disk, across two `python app.py`
processes on one address, as a visitor sees a Space that went to sleep and woke up again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests import REPO
from tests.browser_helpers import (
    BOT,
    LAUNCH_ARGS,
    USER,
    VIEWPORT,
    WAIT_MS,
    ChatPage,
    chromium_path,
    saved_conversations,
)
from tests.conftest import canary, free_port, routed_env
from tests.deploy_helpers import base_environment, run_app
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

SERVER_KEY = canary("browser-saved-restart")


def test_saved_chats_survive_a_restart_of_the_app(fake: FakeProvider, tmp_path: Path) -> None:
    port = free_port()
    env = base_environment(tmp_path / "home", **routed_env(fake, SAVE_HISTORY="true", GROQ_API_KEY=SERVER_KEY))
    words = "remember me after the restart"
    with sync_playwright() as playwright:
        # A profile on disk, as a visitor's browser keeps its localStorage between visits.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium_path(), args=LAUNCH_ARGS, viewport=VIEWPORT
        )
        try:
            with run_app(sys.executable, REPO, env, port=port, args=("--port", str(port))) as first:
                chat = ChatPage(context.new_page(), first.url).open()
                assert chat.chat(words) == f"You said: {words}"
                page = chat.page
                # ChatInterface saves the conversation in a step after the reply.
                for _ in range(WAIT_MS // 100):
                    if words in json.dumps(saved_conversations(page)):
                        break
                    page.wait_for_timeout(100)
                assert words in json.dumps(saved_conversations(page))
            with run_app(sys.executable, REPO, env, port=port, args=("--port", str(port))):
                chat.reload()
                page.locator("#chat").wait_for()
                saved = page.get_by_text(words, exact=True).first
                saved.wait_for(timeout=WAIT_MS)
                saved.click()
                page.locator(USER).filter(has_text=words).wait_for(timeout=WAIT_MS)
                assert chat.bots() == [f"You said: {words}"]
                assert page.locator(BOT).count() == 1
        finally:
            context.close()
