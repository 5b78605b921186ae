"""The browser boundary in Chromium: an evil page, a hijacked tab, a hostile reply, a framed Space.

Everything runs on loopback. The "other site" is a second server on another port (same host, so
same-site for cookies) and, through --host-resolver-rules, a different host name (cross-site).
The app's provider is tests/fake_provider.py, so "0 requests reached the provider" is counted.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Frame, Page, expect, sync_playwright

from config.secret import Secret
from tests import gradio_raw as raw
from tests.browser_helpers import LAUNCH_ARGS, VIEWPORT, WAIT_MS, ChatPage, browser_state, chromium_path, find_any
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

SERVER_KEY = canary("boundary-browser-server")
ACCESS_CODE = f"boundary-gate-{secrets.token_hex(6)}"
EVIL_HOST = "evil.test"
# Headless Chromium leaves a cross-site frame stuck on "Loading..." in about half the loads unless
# frames render in-process; cookie behaviour is the same with this flag (shared/notes).
FRAME_ARGS = ["--disable-features=IsolateOrigins,site-per-process"]


@dataclass
class AttackerSite:
    """Another web site on loopback: serves its pages and records every request made to it."""

    pages: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    def start(self) -> AttackerSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                # Chromium asks every top page's site for its icon, even after the tab closed.
                if path not in site.pages and path != "/favicon.ico":
                    site.requests.append(self.path)
                body = site.pages.get(path, "").encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    args = [*LAUNCH_ARGS, *FRAME_ARGS, f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=args)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def attacker() -> Iterator[AttackerSite]:
    site = AttackerSite().start()
    yield site
    site.stop()


@pytest.fixture
def evil(attacker: AttackerSite) -> AttackerSite:
    attacker.requests.clear()
    attacker.pages.clear()
    return attacker


def session_hash_of(page: Page, running: RunningApp) -> str:
    """The session hash the page's script made, read from its own requests to the app."""
    found: list[str] = []
    page.on("request", lambda r: found.append(r.url) if "session_hash=" in r.url else None)
    page.reload()
    ChatPage(page, running.url).wait_loaded()
    url = next(u for u in found if u.startswith(running.url))
    return url.split("session_hash=", 1)[1].split("&", 1)[0]


def enter_code(page: Page | Frame, code: str) -> None:
    page.locator("#access-code").fill(code)
    page.locator("#access-submit").click()


# --- an evil page in the same browser -------------------------------------------------------

EVIL_PAGE = """<!doctype html><html><body><script>
window.results = (async () => {
  const app = %(app)s, chat = %(chat)d, out = [];
  const attempt = async (what, url, init) => {
    try {
      const response = await fetch(app + url, {credentials: "include", ...init});
      out.push({what, read: (await response.text()).slice(0, 300), status: response.status});
    } catch (error) { out.push({what, error: String(error)}); }
  };
  const hash = Math.random().toString(36).slice(2);
  const join = {data: ["hi", [], "groq", "m", "", 0.5, 64, null], fn_index: chat, session_hash: hash,
                event_data: null, trigger_id: null};
  await attempt("config", "/config");
  await attempt("info", "/gradio_api/info");
  await attempt("join", "/gradio_api/queue/join", {method: "POST", body: JSON.stringify(join),
                headers: {"content-type": "application/json"}});
  await attempt("data", "/gradio_api/queue/data?session_hash=" + hash);
  // Simple requests need no preflight: the browser sends them whatever CORS later says.
  await attempt("no-cors join", "/gradio_api/queue/join", {method: "POST", mode: "no-cors",
                body: JSON.stringify(join), headers: {"content-type": "text/plain"}});
  return out;
})();
</script></body></html>"""


@pytest.mark.parametrize("evil_host", ["127.0.0.1", EVIL_HOST], ids=["another-port", "another-host"])
@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
def test_an_evil_page_cannot_spend_the_key_or_read_anything(
    apps: Callable[..., RunningApp],
    browser: Browser,
    provider: FakeProvider,
    evil: AttackerSite,
    evil_host: str,
    gated: bool,
) -> None:
    running = apps(GROQ_API_KEY=SERVER_KEY, **({"ACCESS_CODE": ACCESS_CODE} if gated else {}))
    context = browser.new_context(viewport=VIEWPORT)
    victim = context.new_page()
    victim.goto(running.url)
    if gated:
        enter_code(victim, ACCESS_CODE)
    ChatPage(victim, running.url).wait_loaded()

    cfg = raw.config(running.url, headers={"x-access-code": ACCESS_CODE} if gated else None)
    evil.pages["/evil.html"] = EVIL_PAGE % {"app": json.dumps(running.url), "chat": raw.fn_index(cfg, "chat")}
    page = context.new_page()
    page.goto(f"http://{evil_host}:{evil.port}/evil.html")
    results = page.evaluate("window.results")

    assert [r["what"] for r in results] == ["config", "info", "join", "data", "no-cors join"]
    for result in results:
        # A fetch the app refused without CORS headers throws: the page reads nothing at all.
        # The no-cors request gives an opaque response: status 0 and no body.
        assert "error" in result or (result["status"] == 0 and result["read"] == ""), result
    assert provider.chat_requests == []
    context.close()


# --- a stranger holding the victim's session hash -------------------------------------------


def test_a_stranger_with_the_session_hash_cannot_chat_redirect_read_or_wipe(
    apps: Callable[..., RunningApp], browser: Browser, provider: FakeProvider, evil: AttackerSite
) -> None:
    running = apps(ALLOW_CUSTOM_BASE_URL="true", ALLOW_LOCAL_BASE_URL="true")
    context = browser.new_context(viewport=VIEWPORT)
    chat = ChatPage(context.new_page(), running.url).open()
    key = canary("hijack-victim")
    chat.enter_key(key)
    assert chat.chat("my secret plans") == "You said: my secret plans"
    session_hash = session_hash_of(chat.page, running)
    chat.enter_key(key)  # the reload gave the tab a new session; the key is typed again
    assert chat.chat("more plans") == "You said: more plans"

    stranger = raw.open_page(running.url)  # a browser cookie of its own
    cfg = raw.config(running.url)
    attacker_url = f"http://127.0.0.1:{evil.port}/v1"
    attempts = {
        "chat": raw.chat_data(cfg, "hi", "groq", "m"),
        "redirect": [*raw.chat_data(cfg, "hi", "endpoint", "m")[:-1], None, attacker_url],
    }
    for headers in ({}, stranger.headers):
        for name, data in attempts.items():
            joined = raw.run_event(
                running.url, raw.fn_index(cfg, "chat"), data, session_hash=session_hash, headers=headers
            )
            assert joined.status == 403, (name, joined.raw)
        read = httpx.get(f"{running.url}/gradio_api/queue/data", params={"session_hash": session_hash}, headers=headers)
        assert read.status_code == 403
        deep = httpx.get(f"{running.url}/gradio_api/deep_link", params={"session_hash": session_hash}, headers=headers)
        assert deep.status_code == 404
        # Dropping a heartbeat would end the session and wipe the victim's key.
        wipe = httpx.get(f"{running.url}/gradio_api/heartbeat/{session_hash}", headers=headers, timeout=5)
        assert wipe.status_code == 403

    assert evil.requests == []
    victim_requests = [r.authorization for r in provider.chat_requests]
    assert victim_requests == [f"Bearer {key}", f"Bearer {key}"]
    # Nothing was wiped: the victim's next chat still uses the key.
    assert chat.chat("still mine") == "You said: still mine"
    assert [r.authorization for r in provider.chat_requests][-1] == f"Bearer {key}"
    context.close()


# --- no copy of the key anywhere -------------------------------------------------------------


def test_load_type_chat_switch_chat_leaves_no_key_in_session_values_files_or_browser(
    apps: Callable[..., RunningApp], browser: Browser, provider: FakeProvider
) -> None:
    running = apps()
    context = browser.new_context(viewport=VIEWPORT)
    chat = ChatPage(context.new_page(), running.url).open()
    session_hash = session_hash_of(chat.page, running)
    first, second = canary("walk-groq"), canary("walk-mistral")
    chat.enter_key(first)
    assert chat.chat("one") == "You said: one"
    chat.choose_provider("Mistral")
    chat.enter_key(second)
    assert chat.chat("two") == "You said: two"
    chat.choose_provider("OpenAI")
    assert chat.chat("three") == "You said: three"
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {k}" for k in (first, second, first)]

    keys = (first, second)
    session = running.demo.state_holder[session_hash]
    stored = json.dumps(
        [session.config_values, list(session.components)],
        default=lambda o: o.reveal() if isinstance(o, Secret) else repr(o),
    )
    assert find_any(stored, keys) == []
    temp_dir = Path(running.demo.server_app.uploaded_file_dir)
    for path in temp_dir.rglob("*"):
        if path.is_file():
            assert find_any(path.read_bytes().decode("latin-1"), keys) == [], path
    assert find_any(browser_state(chat.page, context), keys) == []
    context.close()


# --- a reply that tries to make the browser call out ----------------------------------------


def test_a_hostile_reply_fetches_nothing_and_still_renders(
    apps: Callable[..., RunningApp], browser: Browser, evil: AttackerSite
) -> None:
    running = apps(GROQ_API_KEY=SERVER_KEY)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    chat = ChatPage(page, running.url).open()
    chat.set_model(f"hostile-{evil.port}")
    reply = chat.chat("show me")

    bot = page.locator('[data-testid="bot"]').last
    expect(bot.locator("strong")).to_have_text("bold")
    assert "print('code block')" in reply
    expect(bot.locator(".katex").first).to_be_attached(timeout=WAIT_MS)
    # The markdown image is a plain link now, pointing where the image did.
    link = bot.locator("a", has_text="chart")
    expect(link).to_have_attribute("href", f"http://127.0.0.1:{evil.port}/md-image?q=the+chat+so+far")
    page.wait_for_timeout(1500)  # media and lazy images would have started loading by now
    submit = bot.locator("#hostile-submit")
    if submit.count():
        submit.click(no_wait_after=True)
        page.wait_for_timeout(500)
    assert evil.requests == []
    assert violations, "the policy blocked nothing, so the check above proves nothing"
    context.close()


# --- the Space page: the app inside a frame on another site ----------------------------------

TOP_PAGE = """<!doctype html><html><body><h1>Space page</h1>
<iframe id="app" src="%(app)s/" style="width:1100px;height:760px"></iframe></body></html>"""


def framed_app(page: Page, running: RunningApp) -> Frame:
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    frame = page.frame_locator("#app").locator("body")
    expect(frame).to_be_attached(timeout=WAIT_MS)
    found = next(f for f in page.frames if f.url.startswith(running.url))
    return found


@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
def test_the_app_works_inside_a_space_page_frame(
    apps: Callable[..., RunningApp], browser: Browser, evil: AttackerSite, provider: FakeProvider, gated: bool
) -> None:
    top_origin = f"http://localhost:{evil.port}"
    env = {"GROQ_API_KEY": SERVER_KEY, "FRAME_ANCESTORS": top_origin}
    running = apps(**env, **({"ACCESS_CODE": ACCESS_CODE} if gated else {}))
    evil.pages["/space.html"] = TOP_PAGE % {"app": running.url}
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{top_origin}/space.html")
    frame = framed_app(page, running)
    if gated:
        expect(frame.locator("#access-code")).to_be_visible(timeout=WAIT_MS)
        enter_code(frame, ACCESS_CODE)
        frame = framed_app(page, running)
    chat = ChatPage(frame, running.url)  # type: ignore[arg-type]
    chat.wait_loaded()
    assert chat.chat("from the frame") == "You said: from the frame"
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {SERVER_KEY}"]
    context.close()


def test_a_site_the_operator_did_not_name_cannot_frame_the_app(
    apps: Callable[..., RunningApp], browser: Browser, evil: AttackerSite
) -> None:
    running = apps(GROQ_API_KEY=SERVER_KEY)
    evil.pages["/frame.html"] = TOP_PAGE % {"app": running.url}
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(f"http://{EVIL_HOST}:{evil.port}/frame.html")
    page.wait_for_timeout(2000)
    frame = next((f for f in page.frames if f.url.startswith(running.url)), None)
    assert frame is None or frame.locator("textarea").count() == 0
    assert blocked
    context.close()
