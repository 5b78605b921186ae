"""Signing in with Hugging Face in Chromium, the way a visitor does it on a Space: the walk through
tests/oidc_provider.py's page, the Hub's Space page that shows the app in a cross-site frame, and a
Chromium that renders such a frame."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser_helpers import LAUNCH_ARGS, WAIT_MS, ChatPage, chromium_path

SIGN_IN = "Sign in with Hugging Face"


def approve(tab: ChatPage, username: str) -> None:
    """On the provider's page: type the user name, approve, and come back to the chat signed in."""
    tab.page.locator("#username").fill(username)
    tab.page.locator("#approve").click()
    tab.wait_loaded()
    expect(tab.page.get_by_role("button", name=f"Logout ({username})")).to_be_visible(timeout=WAIT_MS)


def sign_in(chat: ChatPage, username: str) -> None:
    """Click the page's sign-in button, then approve as ``username``."""
    chat.page.get_by_role("button", name=SIGN_IN).click()
    approve(chat, username)


@contextmanager
def frame_friendly_chromium() -> Iterator[Browser]:
    """Headless Chromium with frames in-process: otherwise it often leaves a cross-site Gradio frame
    on "Loading..." (see the notes on testing frames); cookies behave the same either way."""
    with sync_playwright() as playwright:
        args = [*LAUNCH_ARGS, "--disable-features=IsolateOrigins,site-per-process"]
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=args)
        yield chromium
        chromium.close()


class _SpacePage(BaseHTTPRequestHandler):
    """The Hub's Space page, reduced to what matters: the app in a sandboxed cross-site frame."""

    app_url = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = (
            f'<!doctype html><title>Space page</title><iframe id="space" src="{self.app_url}/" '
            'style="width:1100px;height:760px" allow="clipboard-write" '
            'sandbox="allow-forms allow-modals allow-popups allow-popups-to-escape-sandbox '
            'allow-same-origin allow-scripts allow-downloads"></iframe>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def space_page(app_url: str, port: int) -> Iterator[str]:
    """Serve the Space page framing ``app_url`` on ``port``; yields its address on localhost, another
    site than the app's 127.0.0.1, as huggingface.co is to *.hf.space."""
    handler = type("SpacePage", (_SpacePage,), {"app_url": app_url})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{port}/"
    finally:
        server.shutdown()
        server.server_close()
