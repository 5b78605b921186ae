"""A reasoning model in a real browser: the thinking streams, looking like thinking (not like an
error) in light and dark themes, collapses when the answer starts, Stop mid-thought settles it,
the effort setting appears only where it applies, and nothing but the answer goes back upstream
on the next turn.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

import gradio as gr
import pytest
from playwright.sync_api import Browser, Locator, expect

from config.settings import load_settings
from tests.browser_helpers import BOT, STOP, VIEWPORT, WAIT_MS, ChatPage
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.browser

SERVER_KEY = canary("browser-reasoning")
THOUGHT_START = "Let me think about"
SPINNER = ".loading-spinner"
DURATION = re.compile(r"\d+(\.\d)?m?s")

# The box's own colours beside what the theme's error colours resolve to in the same place.
BOX_LOOK = """(box) => {
    const probe = document.createElement("div");
    probe.style.borderColor = "var(--error-border-color)";
    probe.style.background = "var(--error-background-fill)";
    box.parentElement.appendChild(probe);
    const error = getComputedStyle(probe);
    const own = getComputedStyle(box);
    const title = getComputedStyle(box.querySelector(".title"));
    const look = {
        border: own.borderTopColor, background: own.backgroundColor,
        errorBorder: error.borderTopColor, errorBackground: error.backgroundColor,
        titlePointer: title.pointerEvents, titleColor: title.color,
    };
    probe.remove();
    return look;
}"""


@pytest.fixture(scope="module", autouse=True)
def strict(fake: FakeProvider) -> Iterator[None]:
    """The fake refuses what real providers refuse, with their own 400 bodies."""
    fake.strict = True
    yield
    fake.strict = False


@pytest.fixture(scope="module")
def app(fake: FakeProvider) -> Iterator[RunningApp]:
    """Groq (first), OpenAI and Anthropic on server keys, so the page chats without a key box."""
    keys = {"GROQ_API_KEY": SERVER_KEY, "OPENAI_API_KEY": SERVER_KEY, "ANTHROPIC_API_KEY": SERVER_KEY}
    running = start_app(load_settings(routed_env(fake, DEFAULT_PROVIDER="groq", **keys), dotenv_path=None))
    copies_can_land_late(running.demo)
    yield running
    running.close()


# When a reply ends, ChatInterface copies the chat into its own state (chatbot_state, which the next
# reply is built on) outside the queue, while the page's fix-up after Stop runs in the queue.
# Which lands first is up to the machine's load; set, this makes the copy land last, as it can on
# a busy machine, where it once brought a settled thinking spinner back with the next message.
LATE_COPY = threading.Event()


def copies_can_land_late(demo: gr.Blocks) -> None:
    copies = [
        block_fn
        for block_fn in demo.fns.values()
        if [type(i) for i in block_fn.inputs] == [gr.Chatbot] and [type(o) for o in block_fn.outputs] == [gr.State] * 2
    ]
    assert copies
    for block_fn in copies:

        def late(history: object, copy: Callable[[object], object] = block_fn.fn) -> object:
            if LATE_COPY.is_set():
                time.sleep(2)
            return copy(history)

        block_fn.fn = late


@pytest.fixture
def tab(browser: Browser, app: RunningApp) -> Iterator[Callable[[], ChatPage]]:
    contexts = []

    def open_tab() -> ChatPage:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return ChatPage(context.new_page(), app.url).open()

    yield open_tab
    for context in contexts:
        context.close()


def thinking(chat: ChatPage) -> Locator:
    return chat.page.locator(BOT).filter(has_text="Thinking").last


def assert_looks_like_thinking(chat: ChatPage) -> None:
    look = thinking(chat).locator(".thought-group").evaluate(BOX_LOOK)
    assert look["border"] != look["errorBorder"], look
    assert look["background"] != look["errorBackground"], look
    assert look["titlePointer"] != "none", look


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_thinking_looks_like_thinking_from_its_first_word(
    browser: Browser, app: RunningApp, provider: FakeProvider, theme: str
) -> None:
    context = browser.new_context(viewport=VIEWPORT, color_scheme=theme)
    try:
        chat = ChatPage(context.new_page(), f"{app.url.rstrip('/')}/?__theme={theme}").open()
        page = chat.page
        assert page.evaluate("() => document.body.classList.contains('dark')") == (theme == "dark")
        chat.set_model("reason-field-400")
        chat.send("think hard")
        expect(thinking(chat)).to_contain_text(THOUGHT_START, timeout=WAIT_MS)
        # Still thinking: the spinner turns, and the box is not dressed as an error.
        expect(page.locator(STOP)).to_be_visible()
        expect(thinking(chat).locator(SPINNER)).to_have_count(1)
        assert_looks_like_thinking(chat)
        # Its title folds it while it streams.
        thinking(chat).locator(".title").click()
        expect(page.get_by_text(THOUGHT_START)).to_be_hidden(timeout=WAIT_MS)
        chat.wait_done()
        expect(page.locator(SPINNER)).to_have_count(0)
        assert_looks_like_thinking(chat)
    finally:
        context.close()


def test_reasoning_streams_then_collapses_and_never_goes_upstream_again(
    tab: Callable[[], ChatPage], provider: FakeProvider
) -> None:
    chat = tab()
    page = chat.page
    chat.set_model("reason-content-150")
    chat.send("seven times six")

    # While the model thinks, its thoughts stream in an open "Thinking" message...
    expect(thinking(chat)).to_contain_text(THOUGHT_START, timeout=WAIT_MS)
    expect(page.get_by_text(THOUGHT_START)).to_be_visible()
    expect(page.locator(BOT).filter(has_text="You said")).to_have_count(0)
    # ...which folds away once the answer starts, keeping how long it took.
    chat.wait_done()
    expect(page.locator(BOT).filter(has_text="You said: seven times six")).to_have_count(1)
    expect(page.get_by_text(THOUGHT_START)).to_be_hidden(timeout=WAIT_MS)
    expect(thinking(chat)).to_contain_text("s", timeout=WAIT_MS)

    # Under the answer: tokens in and out, first token, total time and the cost the provider reported.
    stats = page.locator(".reply-stats").last
    expect(stats).to_be_visible()
    line = stats.inner_text()
    assert "11 in" in line and " out" in line and "first token" in line and "total" in line, line
    assert "$0.00042" in line, line

    # Opening the thinking again shows it whole.
    page.get_by_text("Thinking").last.click()
    expect(page.get_by_text(THOUGHT_START)).to_be_visible(timeout=WAIT_MS)

    # The second turn carries the first answer, and neither the thinking nor the numbers line.
    provider.reset()
    chat.set_model("llama-3.3-70b-versatile")
    chat.send("and eight times nine")
    chat.wait_done()
    expect(page.locator(BOT).filter(has_text="You said: and eight times nine")).to_have_count(1)
    [request] = provider.chat_requests
    sent = request.body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "You said: seven times six"
    assert THOUGHT_START not in str(sent) and "reply-stats" not in str(sent) and " in · " not in str(sent)


@pytest.mark.parametrize("model", ["reason-field-400", "reason-think-150"])
def test_stop_while_the_model_is_thinking(tab: Callable[[], ChatPage], provider: FakeProvider, model: str) -> None:
    stop_mid_thought(tab(), provider, model)


def test_stop_while_thinking_stays_settled_when_gradios_copy_lands_last(
    tab: Callable[[], ChatPage], provider: FakeProvider
) -> None:
    LATE_COPY.set()
    try:
        stop_mid_thought(tab(), provider, "reason-field-400")
    finally:
        LATE_COPY.clear()


def stop_mid_thought(chat: ChatPage, provider: FakeProvider, model: str) -> None:
    page = chat.page
    chat.set_model(model)
    chat.send("think hard")
    expect(thinking(chat)).to_contain_text(THOUGHT_START, timeout=WAIT_MS)
    page.locator(STOP).click()
    chat.wait_done()
    # The provider's stream was closed, not left to run to its end.
    assert provider.wait_idle(5.0)
    assert provider.closed_early >= 1
    expect(page.locator(BOT).filter(has_text="You said")).to_have_count(0)
    # The thinking settles: folded, with how long it ran, no spinner, and the reply marked.
    expect(page.locator(SPINNER)).to_have_count(0, timeout=WAIT_MS)
    expect(page.get_by_text(THOUGHT_START)).to_be_hidden(timeout=WAIT_MS)
    expect(thinking(chat).locator(".duration")).to_have_text(DURATION)
    expect(page.locator(BOT).filter(has_text="[Stopped: you stopped this reply.]")).to_have_count(1)
    assert_looks_like_thinking(chat)
    # And the chat goes on. (The stopped turn had no answer, so its question is sent again with
    # this one: two user turns in a row are joined.)
    provider.reset()
    chat.set_model("llama-3.3-70b-versatile")
    chat.send("still there?")
    chat.wait_done()
    expect(page.locator(BOT).filter(has_text="still there?")).to_have_count(1)
    sent = provider.chat_requests[-1].body["messages"]
    assert THOUGHT_START not in str(sent) and "Stopped" not in str(sent)
    # Still settled after the next chat.
    expect(page.locator(SPINNER)).to_have_count(0)
    expect(thinking(chat).locator(".duration")).to_have_text(DURATION)


def test_reasoning_effort_shows_only_where_it_applies_and_reaches_the_provider(
    tab: Callable[[], ChatPage], provider: FakeProvider
) -> None:
    chat = tab()
    page = chat.page
    page.get_by_role("button", name="Settings ▼").click()
    effort = page.locator("#reasoning-effort")
    # Groq's default Llama model takes no effort: the setting is hidden.
    expect(effort).to_be_hidden(timeout=WAIT_MS)
    chat.set_model("openai/gpt-oss-120b")
    expect(effort).to_be_visible(timeout=WAIT_MS)
    effort.locator("input").click()
    page.locator('[data-testid="dropdown-option"][aria-label="high"]').click()
    expect(effort.locator("input")).to_have_value("high", timeout=WAIT_MS)
    provider.reset()
    chat.send("how hard?")
    # The answer on the page, not only the buttons: they can look idle before the send has begun.
    expect(page.locator(BOT).filter(has_text="You said: how hard?")).to_have_count(1, timeout=WAIT_MS)
    chat.wait_done()
    assert provider.chat_requests[-1].body.get("reasoning_effort") == "high"
    # Back on a model without it, the setting hides and nothing is sent.
    chat.set_model("llama-3.3-70b-versatile")
    expect(effort).to_be_hidden(timeout=WAIT_MS)
    provider.reset()
    chat.send("and now?")
    expect(page.locator(BOT).filter(has_text="and now?")).to_have_count(1, timeout=WAIT_MS)
    chat.wait_done()
    assert "reasoning_effort" not in provider.chat_requests[-1].body


def test_temperature_is_the_providers_until_chosen_and_greys_out_where_the_model_takes_none(
    tab: Callable[[], ChatPage], provider: FakeProvider
) -> None:
    chat = tab()
    page = chat.page
    page.get_by_role("button", name="Settings ▼").click()
    default = page.locator("#temperature-default input")
    slider = page.locator("#temperature input[type=number]")
    # The provider's own default, and nothing is sent for it.
    expect(default).to_be_checked(timeout=WAIT_MS)
    expect(slider).to_be_disabled()
    chat.send("first")
    expect(page.locator(BOT).filter(has_text="You said: first")).to_have_count(1, timeout=WAIT_MS)
    chat.wait_done()
    assert "temperature" not in provider.chat_requests[-1].body

    # Chosen, it is sent.
    default.uncheck()
    expect(slider).to_be_editable(timeout=WAIT_MS)
    slider.fill("0.3")
    slider.press("Enter")
    provider.reset()
    chat.send("second")
    expect(page.locator(BOT).filter(has_text="You said: second")).to_have_count(1, timeout=WAIT_MS)
    chat.wait_done()
    assert provider.chat_requests[-1].body["temperature"] == 0.3

    # A reasoning model takes none: the default is ticked again, both grey out and the page
    # says why; the chat works.
    chat.choose_provider("OpenAI")
    chat.set_model("gpt-5-mini")
    expect(default).to_be_disabled(timeout=WAIT_MS)
    expect(default).to_be_checked()
    expect(slider).to_be_disabled()
    expect(page.locator("#temperature-default")).to_contain_text("This model takes no temperature: OpenAI sets it")
    provider.reset()
    chat.send("third")
    expect(page.locator(BOT).filter(has_text="You said: third")).to_have_count(1, timeout=WAIT_MS)
    chat.wait_done()
    body = provider.chat_requests[-1].body
    assert "temperature" not in body and body["max_completion_tokens"] > 0 and "max_tokens" not in body

    # Claude takes one until it is asked to think.
    chat.choose_provider("Anthropic")
    expect(default).to_be_enabled(timeout=WAIT_MS)
    effort = page.locator("#reasoning-effort")
    effort.locator("input").click()
    page.locator('[data-testid="dropdown-option"][aria-label="high"]').click()
    expect(default).to_be_disabled(timeout=WAIT_MS)
    expect(page.locator("#temperature-default")).to_contain_text("while it thinks")
    # Thinking, with a budget Anthropic takes and no temperature (the strict fake checks both).
    provider.reset()
    chat.send("fourth")
    expect(page.locator(BOT).filter(has_text="You said: fourth")).to_have_count(1, timeout=WAIT_MS)
    chat.wait_done()
    body = provider.chat_requests[-1].body
    assert body["thinking"]["type"] == "enabled" and "temperature" not in body
