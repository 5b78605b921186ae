"""byok-chat in a real browser: key modes, streaming, Gradio's chat buttons, errors, leaks, injection.

One Chromium per module and one launched app per mode (visitor keys, server key, access gate);
every test gets a fresh browser context, so no cookie, storage or session carries over. The
provider is tests/fake_provider.py over HTTP. `python -m tests.screenshots` retakes docs/screenshots.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from config.settings import load_settings
from tests.browser_helpers import (
    BOT,
    ERROR_BUBBLE,
    PASSWORD,
    STOP,
    SUBMIT,
    TOAST,
    USER,
    VIEWPORT,
    WAIT_MS,
    Capture,
    ChatPage,
    browser_state,
    find_any,
    words,
)
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

# Fixed for the module: the server-mode app is launched once with it.
SERVER_KEY = canary("browser-server")
ACCESS_CODE = f"browser-gate-{canary('code')}"
SERVER_LIMITS = "500/minute;5000/day"
PHONE = {"width": 390, "height": 844}
ECHO_MODEL = "llama-3.3-70b-versatile"  # any plain name: the fake echoes the last user message


EMPTY_CHAT = "#chat .placeholder-content"


class ChatStuckAfterError(AssertionError):
    """The chat box stayed disabled after an error message."""


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], None]:
    """Save a screenshot of the page as the test left it, to see that it drew something. The
    pictures in docs/screenshots come from `python -m tests.screenshots` instead."""
    folder = tmp_path

    def save(page: Page, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000, f"{path} looks empty"

    return save


@pytest.fixture(scope="module")
def byo_app(fake: FakeProvider) -> Iterator[RunningApp]:
    """No server keys: every provider asks the visitor for a key."""
    app = start_app(load_settings(routed_env(fake), dotenv_path=None))
    yield app
    app.close()


@pytest.fixture(scope="module")
def server_app(fake: FakeProvider) -> Iterator[RunningApp]:
    """A server key for Groq only: Groq opens without a key box, the others ask for one. Quotas are
    on, high enough that the module's chats never reach them, so the usage line has limits to show."""
    env = routed_env(fake, GROQ_API_KEY=SERVER_KEY, RATE_LIMIT=SERVER_LIMITS, DAILY_TOKEN_LIMIT="1000000")
    app = start_app(load_settings(env, dotenv_path=None))
    yield app
    app.close()


@pytest.fixture(scope="module")
def gated_app(fake: FakeProvider) -> Iterator[RunningApp]:
    """The server key behind an access code."""
    env = routed_env(fake, GROQ_API_KEY=SERVER_KEY, ACCESS_CODE=ACCESS_CODE)
    app = start_app(load_settings(env, dotenv_path=None))
    yield app
    app.close()


def bearer_tokens(provider: FakeProvider, prefix: str) -> list[str | None]:
    return [r.authorization for r in provider.chat_requests if r.path.startswith(prefix)]


def last_user_message(provider: FakeProvider) -> str:
    messages = provider.chat_requests[-1].body["messages"]
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def wait_until(condition: Callable[[], bool], page: Page, timeout_ms: int = WAIT_MS) -> bool:
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if condition():
            return True
        page.wait_for_timeout(50)
    return condition()


def pwned(page: Page) -> str:
    return page.evaluate("typeof window.__pwned")


# --- bring-your-own-key mode ---------------------------------------------------------------------


def test_visitor_key_reaches_the_provider_as_bearer_token(
    byo_app: RunningApp,
    provider: FakeProvider,
    tabs: Callable[[str], ChatPage],
    screenshot: Callable[[Page, str], None],
) -> None:
    chat = tabs(byo_app.url)
    expect(chat.key_box).to_be_visible()
    assert "Enter your OpenAI key" in chat.status()
    expect(chat.key_box).to_have_attribute("placeholder", "Paste your key, then press Enter")
    # The empty chat says which mode this is and what to do first.
    expect(chat.page.locator(EMPTY_CHAT)).to_contain_text("OpenAI needs your own API key")
    expect(chat.page.locator(EMPTY_CHAT)).to_contain_text("Paste it into the key box in the sidebar")
    key = canary("browser-visitor")

    chat.enter_key(key)

    expect(chat.key_box).to_have_value("")
    expect(chat.key_box).to_have_attribute("placeholder", "Key set; paste another to replace it")
    expect(chat.page.locator(EMPTY_CHAT)).to_contain_text("OpenAI, with your own key")
    expect(chat.page.locator("#forget-key")).to_be_visible()
    assert chat.chat("Hello! Which provider is this?") == "You said: Hello! Which provider is this?"
    assert bearer_tokens(provider, "/openai/v1/") == [f"Bearer {key}"]
    screenshot(chat.page, "byo-mode.png")


def test_reply_streams_and_stop_closes_the_provider_stream(
    byo_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(byo_app.url)
    chat.enter_key(canary("browser-stream"))
    chat.set_model("drip-150")  # 40 chunks, 150 ms apart: six seconds if nobody stops it
    # The fake provider is shared by the whole session; count only this test's stream.
    baseline = provider.open_streams

    chat.send("stream please")

    stop = chat.page.locator(STOP)
    expect(stop).to_be_visible(timeout=WAIT_MS)
    expect(chat.last_bot()).to_contain_text("drip", timeout=WAIT_MS)
    early = words(chat.last_bot().inner_text(), "drip")
    assert 1 <= early < 40, "the first words must show before the reply is complete"
    assert provider.open_streams == baseline + 1
    assert wait_until(lambda: words(chat.last_bot().inner_text(), "drip") > early, chat.page)

    stop.click()

    expect(chat.page.locator(SUBMIT)).to_be_visible(timeout=WAIT_MS)
    assert wait_until(lambda: provider.open_streams <= baseline, chat.page), "the provider stream stayed open"
    assert provider.closed_early >= 1
    halted = words(chat.last_bot().inner_text(), "drip")
    chat.page.wait_for_timeout(600)  # four more chunks' worth of time
    assert words(chat.last_bot().inner_text(), "drip") == halted < 40
    # A stopped reply is marked, so it does not look complete; the mark never goes upstream.
    expect(chat.last_bot()).to_contain_text("[Stopped: you stopped this reply.]", timeout=WAIT_MS)
    chat.set_model(ECHO_MODEL)
    assert chat.chat("and now?") == "You said: and now?"
    sent = [(m["role"], m["content"]) for m in provider.chat_requests[-1].body["messages"] if m["role"] != "system"]
    assert [role for role, _ in sent] == ["user", "assistant", "user"]
    assert sent[1][1].startswith("drip") and "Stopped" not in sent[1][1]


def test_retry_undo_edit_and_clear(
    byo_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(byo_app.url)
    key = canary("browser-buttons")
    chat.enter_key(key)
    page = chat.page
    assert chat.chat("first message") == "You said: first message"

    chat.chat_button("Retry").click()
    chat.wait_done()
    assert wait_until(lambda: len(provider.chat_requests) == 2, page)
    assert last_user_message(provider) == "first message"
    expect(page.locator(BOT)).to_have_count(1)
    # The retried reply streams in again; on a busy machine the buttons come back before it ends.
    # (The answer, then the line of numbers under it.)
    expect(page.locator(BOT)).to_have_text([re.compile(r"^You said: first message\s+\d+ in · ")], timeout=WAIT_MS)

    chat.chat_button("Undo").click()
    expect(page.locator(USER)).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator(BOT)).to_have_count(0)
    expect(chat.textbox).to_have_value("first message")  # Undo hands the message back for editing

    assert chat.chat("second message") == "You said: second message"
    chat.chat_button("Edit", 0).click()
    page.locator("textarea.edit-textarea").fill("edited message")
    # The edit box's own Submit, not the message box's (which has the same label).
    page.locator('button[aria-label="Submit"]:not([data-testid="submit-button"])').click()
    # The answer, then the line of numbers under it.
    expect(chat.last_bot()).to_have_text(re.compile(r"^You said: edited message\s+\d+ in · "), timeout=WAIT_MS)
    chat.wait_done()
    assert chat.users() == ["edited message"]
    assert [m["content"] for m in provider.chat_requests[-1].body["messages"] if m["role"] != "system"] == [
        "edited message"
    ]

    page.locator('button[aria-label="Clear"]').click()
    expect(page.locator(USER)).to_have_count(0, timeout=WAIT_MS)
    assert chat.chat("after clear") == "You said: after clear"
    roles = [m["role"] for m in provider.chat_requests[-1].body["messages"]]
    assert roles == ["system", "user"], "the cleared conversation must not reach the provider"
    assert set(bearer_tokens(provider, "/openai/v1/")) == {f"Bearer {key}"}


def test_other_tabs_and_visitors_start_without_the_key(
    byo_app: RunningApp, provider: FakeProvider, browser: Browser, tabs: Callable[[str], ChatPage]
) -> None:
    first = tabs(byo_app.url)
    first.enter_key(canary("browser-first-tab"))
    assert first.chat("mine") == "You said: mine"
    same_browser = ChatPage(first.page.context.new_page(), byo_app.url).open()
    other_visitor = tabs(byo_app.url)

    for chat in (same_browser, other_visitor):
        expect(chat.key_box).to_be_visible()
        expect(chat.key_box).to_have_value("")
        assert "Enter your OpenAI key" in chat.status()
        chat.send("may I use that key?")
        chat.error("Enter your OpenAI API key in the key box")

    assert len(provider.chat_requests) == 1, "a tab without a key reached the provider"


def test_reload_forgets_the_key(byo_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]) -> None:
    chat = tabs(byo_app.url)
    chat.enter_key(canary("browser-reload"))
    assert chat.chat("before reload") == "You said: before reload"

    chat.reload()

    expect(chat.key_box).to_have_value("")
    expect(chat.page.locator("#forget-key")).to_be_hidden()
    assert "Enter your OpenAI key" in chat.status()
    chat.send("after reload")
    chat.error("Enter your OpenAI API key in the key box")
    assert len(provider.chat_requests) == 1


def test_forget_my_key(byo_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]) -> None:
    chat = tabs(byo_app.url)
    chat.enter_key(canary("browser-forget"))

    chat.page.locator("#forget-key").click()

    expect(chat.page.locator("#key-status")).to_contain_text("Enter your OpenAI key", timeout=WAIT_MS)
    expect(chat.page.locator("#forget-key")).to_be_hidden()
    chat.send("still there?")
    chat.error("Enter your OpenAI API key in the key box")
    assert provider.chat_requests == []


# --- server-key mode -----------------------------------------------------------------------------


def test_server_mode_has_no_key_box_until_a_provider_needs_one(
    server_app: RunningApp,
    provider: FakeProvider,
    tabs: Callable[[str], ChatPage],
    screenshot: Callable[[Page, str], None],
) -> None:
    chat = tabs(server_app.url)
    page = chat.page
    expect(page.locator(PASSWORD)).to_have_count(0)
    assert "Groq uses the server's key" in chat.status()
    expect(page.locator(EMPTY_CHAT)).to_contain_text("Groq runs on this server's key")
    expect(page.locator(EMPTY_CHAT)).to_contain_text("Type a message below to start")
    assert chat.chat("Hello from server mode") == "You said: Hello from server mode"
    # No stray "Chatbot" tag, and only the chat buttons that do something here.
    expect(page.locator('#chat [data-testid="block-label"]')).to_have_count(0)
    expect(page.get_by_text("Chatbot", exact=True)).to_have_count(0)
    toolbar = page.locator("#chat button[aria-label]").evaluate_all("(bs) => bs.map((b) => b.ariaLabel)")
    assert not [label for label in toolbar if "share" in label.lower()]
    assert {"Clear", "Copy conversation"} <= set(toolbar)
    assert bearer_tokens(provider, "/groq/v1/") == [f"Bearer {SERVER_KEY}"]
    screenshot(page, "server-mode.png")

    chat.choose_provider("OpenAI")
    expect(chat.key_box).to_be_visible(timeout=WAIT_MS)
    assert "Enter your OpenAI key" in chat.status()

    chat.choose_provider("Groq")
    expect(page.locator(PASSWORD)).to_have_count(0, timeout=WAIT_MS)
    assert "Groq uses the server's key" in chat.status()


def usage_chats(chat: ChatPage) -> int:
    text = chat.page.locator("#usage").inner_text()
    match = re.search(r"Your usage today: ([\d,]+) chats?", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def test_usage_line_shows_the_limits_and_counts_a_reply_when_it_ends(
    server_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(server_app.url)
    usage = chat.page.locator("#usage")
    expect(usage).to_contain_text(
        "Limits on the server's keys: 500 per minute, 5,000 per day, 1,000,000 tokens per day."
    )
    before = usage_chats(chat)

    assert chat.chat("count me") == "You said: count me"

    # Updated when the reply ended, without a reload or another send.
    expect(usage).to_contain_text(f"Your usage today: {before + 1:,} chat", timeout=WAIT_MS)
    assert "of 1,000,000 tokens" in usage.inner_text()
    chat.set_model("status-503")
    chat.send("and a failure")
    chat.error("had a server error")
    expect(usage).to_contain_text(f"Your usage today: {before + 2:,} chats", timeout=WAIT_MS)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "readable", "provider_text"),
    [
        ("status-401", "Groq rejected this server's API key (HTTP 401)", "fake 401"),
        ("status-404", "Groq does not know the model you chose", "fake 404"),
        ("status-503", "Groq had a server error (HTTP 503)", "fake 503"),
        ("nonjson-502", "Groq had a server error (HTTP 502)", "Bad gateway"),
    ],
)
def test_provider_errors_read_as_plain_messages(
    server_app: RunningApp,
    provider: FakeProvider,
    tabs: Callable[[str], ChatPage],
    model: str,
    readable: str,
    provider_text: str,
) -> None:
    chat = tabs(server_app.url)
    chat.set_model(model)

    chat.send("hello")

    bubble = chat.error(readable)
    assert provider_text not in bubble.inner_text(), "the provider's own error text reached the page"
    assert provider.chat_requests, "the request never reached the provider"


def test_cut_off_reply_keeps_the_partial_text_and_the_chat_goes_on(
    server_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(server_app.url)
    chat.set_model("cutoff")

    reply = chat.chat("tell me everything")

    assert reply.startswith("You said: tell me everything")
    assert "[Reply cut off: the provider stopped sending before the end.]" in reply
    # The mark in the reply is the one signal.
    expect(chat.page.locator(TOAST)).to_have_count(0)
    chat.set_model(ECHO_MODEL)
    assert chat.chat("and now?") == "You said: and now?"
    # The cut-off note is ours: the model never sees it as something it said.
    assert all("Reply cut off" not in m["content"] for m in provider.chat_requests[-1].body["messages"])


def test_chat_works_again_after_an_error(
    server_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(server_app.url)
    chat.set_model("status-503")
    chat.send("hello")
    chat.error("had a server error")
    chat.set_model(ECHO_MODEL)

    try:
        expect(chat.textbox).to_be_editable(timeout=5_000)
    except AssertionError as stuck:
        raise ChatStuckAfterError("the chat box is still disabled 5 s after the error") from stuck
    assert chat.chat("again") == "You said: again"


def test_failed_turns_show_as_errors_and_never_go_upstream(
    server_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    """Failed prompts stay on screen, each with one error bubble, and are left out of what the
    provider gets next; Retry is the way to send one again."""
    chat = tabs(server_app.url)
    page = chat.page
    assert chat.chat("hello") == "You said: hello"
    chat.set_model("status-401")
    chat.send("trigger 401")
    bubble = chat.error("rejected this server's API key")
    chat.set_model("status-429")
    chat.send("trigger 429")
    chat.error("rate limiting this key")

    # Styled as an error: the theme's error colours, and the message open, not folded away.
    colours = bubble.evaluate(
        """(group) => {
            const probe = document.createElement("span");
            probe.style.color = "var(--error-text-color)";
            group.appendChild(probe);
            const error = getComputedStyle(probe).color;
            probe.remove();
            return {title: getComputedStyle(group.querySelector(".title")).color, error,
                    text: getComputedStyle(document.body).color, border: getComputedStyle(group).borderTopStyle};
        }"""
    )
    assert colours["title"] == colours["error"] != colours["text"]
    assert colours["border"] == "solid"
    expect(bubble).to_contain_text("left out of the conversation; press Retry to send it again")
    expect(page.locator(ERROR_BUBBLE)).to_have_count(2)

    chat.set_model(ECHO_MODEL)
    assert chat.chat("and now") == "You said: and now"
    assert chat.users() == ["hello", "trigger 401", "trigger 429", "and now"]
    sent = [(m["role"], m["content"]) for m in provider.chat_requests[-1].body["messages"] if m["role"] != "system"]
    assert sent == [("user", "hello"), ("assistant", "You said: hello"), ("user", "and now")]


# --- injection -----------------------------------------------------------------------------------


def test_html_in_a_reply_runs_nothing_and_markdown_still_renders(
    server_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(server_app.url)
    page = chat.page
    chat.set_model("html")

    chat.chat("show me some formatting")

    bot = chat.last_bot()
    expect(bot.locator("strong")).to_have_text("bold")
    expect(bot.locator("pre code")).to_contain_text("print('hi')")
    expect(bot.locator("script")).to_have_count(0)
    expect(bot.locator("img[onerror]")).to_have_count(0)
    page.wait_for_timeout(300)  # an <img src=x> fails to load within milliseconds
    assert pwned(page) == "undefined"

    chat.set_model(ECHO_MODEL)
    chat.chat('<img src=x onerror="window.__pwned=7"><script>window.__pwned=8</script>')
    expect(page.locator(f"{USER} img[onerror], {BOT} img[onerror]")).to_have_count(0)
    page.wait_for_timeout(300)
    assert pwned(page) == "undefined"


def test_provider_error_carrying_html_runs_nothing(
    byo_app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage]
) -> None:
    chat = tabs(byo_app.url)
    page = chat.page
    # A key is any visible ASCII, so it can be markup; echo-key-401 repeats it in the 401 body.
    html_key = "sk-<img/src=x/onerror=window.__pwned=5>"
    chat.enter_key(html_key)
    chat.set_model("echo-key-401")

    chat.send("hello")

    bubble = chat.error("rejected the API key")
    assert "onerror" not in bubble.inner_text()
    assert bearer_tokens(provider, "/openai/v1/") == [f"Bearer {html_key}"]
    expect(page.locator("img[onerror]")).to_have_count(0)
    page.wait_for_timeout(300)
    assert pwned(page) == "undefined"


# --- phone ---------------------------------------------------------------------------------------


def test_phone_opens_on_the_chat_with_a_whole_sidebar_toggle(
    server_app: RunningApp,
    provider: FakeProvider,
    browser: Browser,
    screenshot: Callable[[Page, str], None],
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        chat = ChatPage(context.new_page(), server_app.url).open()
        page = chat.page
        sidebar, toggle = page.locator(".sidebar"), page.locator(".sidebar .toggle-button")

        # First load: the sidebar is closed, so the chat box is there to use.
        expect(sidebar).not_to_have_class(re.compile(r"\bopen\b"), timeout=WAIT_MS)
        settled(page)
        expect(page.locator(EMPTY_CHAT)).to_be_in_viewport()
        assert inside(page, toggle), "the closed sidebar's toggle is clipped"
        assert finger_sized(toggle)
        # Screen readers name the message box, not Gradio's component type.
        expect(page.get_by_role("textbox", name="Message")).to_be_visible()
        assert chat.chat("hello from a phone") == "You said: hello from a phone"
        expect(page.get_by_role("textbox", name="Message")).to_be_visible()
        screenshot(page, "phone.png")

        toggle.click()
        expect(sidebar).to_have_class(re.compile(r"\bopen\b"))
        expect(page.locator("#key-status")).to_be_in_viewport()
        settled(page)
        assert inside(page, toggle), "the open sidebar's toggle is clipped"
        assert finger_sized(toggle)
        toggle.click()
        expect(sidebar).not_to_have_class(re.compile(r"\bopen\b"))
        expect(chat.textbox).to_be_in_viewport()
    finally:
        context.close()


def test_phone_shows_the_chat_before_saved_chats_and_errors_outside_the_reply_bubble(
    apps: Callable[..., RunningApp], browser: Browser
) -> None:
    running = apps(SAVE_HISTORY="true", GROQ_API_KEY=SERVER_KEY, DEFAULT_MODEL="status-500")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        chat = ChatPage(context.new_page(), running.url).open()
        page = chat.page
        chat.send("fail on a phone")
        chat.error("had a server error")
        chat_box = page.locator("#chat").bounding_box()
        saved = page.locator("#saved-chats").bounding_box()
        assert chat_box is not None and saved is not None
        assert saved["y"] >= chat_box["y"] + chat_box["height"], (chat_box, saved)
        # The error is its own box: the reply bubble around it draws nothing.
        bubble = page.locator("#chat .message.bot", has=page.locator(ERROR_BUBBLE.split()[-1])).last
        look = bubble.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderTopWidth]")
        assert look == ["rgba(0, 0, 0, 0)", "0px"], look
    finally:
        context.close()


def finger_sized(locator: Locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["width"] >= 44 and box["height"] >= 44


def settled(page: Page) -> None:
    """Wait for the sidebar's slide to end, so positions are measured where they stay."""
    page.wait_for_function("() => document.querySelector('.sidebar').getAnimations().length === 0")


def inside(page: Page, locator: Locator) -> bool:
    """Whole on screen: clear of every edge (Gradio's own toggle sits flush against the screen's
    edge with that side's border removed, so it reads as a button cut in half)."""
    box = locator.bounding_box()
    assert box is not None
    gap = 4
    return (
        box["x"] >= gap
        and box["y"] >= gap
        and box["x"] + box["width"] <= PHONE["width"] - gap
        and box["y"] + box["height"] <= PHONE["height"] - gap
    )


# --- leaks ---------------------------------------------------------------------------------------


def test_no_key_reaches_anything_the_browser_received_or_kept(
    server_app: RunningApp, provider: FakeProvider, browser: Browser
) -> None:
    visitor_key = canary("browser-leak-visitor")
    canaries = (SERVER_KEY, visitor_key)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    capture = Capture().attach(page)
    chat = ChatPage(page, server_app.url).open()
    kept: list[str] = []

    # Server key: a chat, then an error, then a reload once the page has settled.
    assert chat.chat("hello groq") == "You said: hello groq"
    chat.set_model("status-401")
    chat.send("fail please")
    chat.error("rejected this server's API key")
    chat.wait_done()
    capture.settle(page)
    chat.reload()

    # Visitor key on another provider: chat, stop, cut-off, and a 401 that echoes the key.
    chat.choose_provider("OpenAI")
    chat.enter_key(visitor_key)
    assert chat.chat("hello openai") == "You said: hello openai"
    chat.set_model("drip-150")
    chat.send("stream then stop")
    expect(chat.last_bot()).to_contain_text("drip", timeout=WAIT_MS)
    page.locator(STOP).click()
    chat.wait_done()
    chat.set_model("cutoff")
    assert "Reply cut off" in chat.chat("cut me off")
    kept.append(browser_state(page, context))
    chat.set_model("echo-key-401")
    chat.send("echo my key")
    chat.error("rejected the API key")
    chat.wait_done()
    capture.settle(page)
    kept.append(browser_state(page, context))
    chat.reload()
    assert chat.chat("after reload") == "You said: after reload"
    capture.settle(page)
    kept.append(browser_state(page, context))
    capture.recover(page)
    capture.stop()
    context.close()

    # The canaries were really in use, and the capture really saw the streamed replies.
    assert f"Bearer {SERVER_KEY}" in bearer_tokens(provider, "/groq/v1/")
    assert f"Bearer {visitor_key}" in bearer_tokens(provider, "/openai/v1/")
    streams = capture.streams()
    for reply in ("You said: hello groq", "You said: hello openai", "drip", "You said: after reload"):
        assert reply in streams, f"the event-stream capture missed {reply!r}"
    unread = capture.unread()
    assert unread == [], f"response bodies not read, so not checked: {unread}"
    received = capture.everything()
    assert find_any(received, canaries) == [], "a key reached the browser in a response body"
    for state in kept:
        assert '"local"' in state and '"indexeddb"' in state and '"cookies"' in state
        assert find_any(state, canaries) == [], "a key is kept in the browser's storage or page"


# --- access gate ---------------------------------------------------------------------------------


def gate_page(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(url)
    expect(page.locator("#access-form")).to_be_visible()
    expect(page.locator('textarea[data-testid="textbox"]')).to_have_count(0)
    return page


def enter_code(page: Page, code: str) -> None:
    page.locator("#access-code").fill(code)
    page.locator("#access-submit").click()


def test_access_gate_guards_the_page_and_lets_the_right_code_in(
    gated_app: RunningApp, provider: FakeProvider, browser: Browser
) -> None:
    page = gate_page(browser, gated_app.url)
    context = page.context

    enter_code(page, ACCESS_CODE)

    chat = ChatPage(page, gated_app.url)
    chat.wait_loaded()
    expect(page.locator("#access-link")).to_be_visible()
    assert chat.chat("let me in") == "You said: let me in"
    assert bearer_tokens(provider, "/groq/v1/") == [f"Bearer {SERVER_KEY}"]
    cookie = next(c for c in context.cookies() if c["name"] == "byok_access")
    assert cookie["httpOnly"], "page scripts must not read the access cookie"
    assert "byok_access" not in page.evaluate("document.cookie")
    assert find_any(browser_state(page, context), (ACCESS_CODE, SERVER_KEY)) == []
    context.close()
    gate_page(browser, gated_app.url).context.close()  # another visitor still meets the gate


def test_sign_out_in_the_page_brings_the_gate_back(gated_app: RunningApp, browser: Browser) -> None:
    page = gate_page(browser, gated_app.url)
    enter_code(page, ACCESS_CODE)
    ChatPage(page, gated_app.url).wait_loaded()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#access-code")).to_be_visible(timeout=WAIT_MS)
    assert not [c for c in page.context.cookies() if c["name"] == "byok_access"]
    page.reload()
    expect(page.locator("#access-code")).to_be_visible(timeout=WAIT_MS)
    page.context.close()


def test_wrong_access_code_is_refused_and_not_reflected(gated_app: RunningApp, browser: Browser) -> None:
    page = gate_page(browser, gated_app.url)

    enter_code(page, '<img src=x onerror="window.__pwned=9">')

    expect(page.locator(".notice")).to_have_text("That code is not right. Try again.")
    expect(page.locator("img")).to_have_count(0)
    assert pwned(page) == "undefined"
    page.context.close()


class GateFormBroken(AssertionError):
    """The gate's form stopped working after a wrong code."""


def test_right_code_works_after_a_wrong_one(gated_app: RunningApp, browser: Browser) -> None:
    page = gate_page(browser, gated_app.url)
    enter_code(page, "not-the-code-at-all")
    expect(page.locator(".notice")).to_be_visible()

    enter_code(page, ACCESS_CODE)

    try:
        expect(page.locator("#key-status")).to_be_visible(timeout=5_000)
    except AssertionError as broken:
        raise GateFormBroken(f"the right code led to {page.url}: {page.inner_text('body')[:80]}") from broken
    finally:
        page.context.close()
