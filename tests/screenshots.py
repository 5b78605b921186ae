"""Retake the pictures in docs/screenshots: ``python -m tests.screenshots`` (needs /usr/bin/chromium).

The app runs in this process with saved chats on and no server key, in front of the tests' fake
provider (tests/fake_provider.py), so nothing reaches a real provider and no real key is typed.
In Chromium, at desktop size (1280x800) and phone size (390x844): the visitor pastes a key, has a
short chat, starts a new one with a reasoning model (the fake's ``reason-field``) and asks again.
The page then shows a reasoning reply, its thinking folded with its time, and two saved chats.

- ``byo-mode.png``: the desktop page, sidebar open with the key set, saved chats beside the chat.
- ``phone.png``: the phone page after the reasoning reply, sidebar closed, as it opens.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Made up and only ever sent to the fake provider.
DEMO_KEY = "sk-demo-0000000000000000000000000000"
# Kept from the environment: what Python and Chromium need to run. Everything else (a developer's
# provider keys, .env settings) stays out of the app.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


def main() -> None:
    for name in [n for n in os.environ if n not in KEPT]:
        del os.environ[name]
    # app.py reads a .env in the working directory when imported: start from an empty one.
    os.chdir(tempfile.mkdtemp(prefix="byok-screenshots-"))
    from playwright.sync_api import sync_playwright

    from config.settings import load_settings
    from tests.browser_helpers import CHROMIUM
    from tests.conftest import routed_env, start_app
    from tests.fake_provider import FakeProvider

    fake = FakeProvider().start()
    app = start_app(load_settings(routed_env(fake, SAVE_HISTORY="true"), dotenv_path=None))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            take(browser, app.url, DESKTOP, OUT / "byo-mode.png", phone=False)
            take(browser, app.url, PHONE, OUT / "phone.png", phone=True)
            browser.close()
    finally:
        app.close()
        fake.stop()
    print(f"Saved byo-mode.png and phone.png in {OUT}")


def take(browser: Browser, url: str, viewport: dict[str, int], path: Path, *, phone: bool) -> None:
    from playwright.sync_api import expect

    from tests.browser_helpers import BOT, WAIT_MS, ChatPage

    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    try:
        chat = ChatPage(context.new_page(), url).open()
        page = chat.page
        toggle = page.locator(".sidebar .toggle-button")

        def in_sidebar(step: Callable[[], None]) -> None:
            # On a phone the sidebar covers the chat: opened for the step, closed after.
            if phone:
                toggle.click()
            step()
            if phone:
                toggle.click()

        in_sidebar(lambda: (chat.enter_key(DEMO_KEY), chat.set_model("gpt-4.1-mini")))
        chat.chat("What does bring your own key mean here?")
        page.get_by_role("button", name="New chat").click()
        in_sidebar(lambda: chat.set_model("reason-field"))
        chat.send("Is 1,001 a prime number?")
        chat.wait_done()
        expect(page.locator(BOT).filter(has_text="Thinking").last.locator(".duration")).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("What does bring your own key mean here?").first).to_be_visible(timeout=WAIT_MS)
        page.mouse.move(0, 0)  # no hover highlight in the picture
        page.wait_for_timeout(500)  # the sidebar's slide to finish
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        if path.stat().st_size < 10_000:
            sys.exit(f"{path} looks empty")
    finally:
        context.close()


if __name__ == "__main__":
    main()
