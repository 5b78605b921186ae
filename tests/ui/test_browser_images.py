"""Images and files in a real browser: attach, paste, refusals, and a leak check with images in play.

Each test walks the page like a person: load, type (and attach), chat, switch. The provider is
tests/fake_provider.py, which records the content parts it received.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from config.settings import load_settings
from tests.browser_helpers import (
    BOT,
    USER,
    VIEWPORT,
    WAIT_MS,
    Capture,
    ChatPage,
    browser_state,
    find_any,
)
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider
from tests.media import EXE_BYTES, decode_data_url, image_bytes, pdf_with_text

pytestmark = pytest.mark.browser

SERVER_KEY = canary("images-server")
UPLOAD_BUTTON = '#chat-input button[data-testid="upload-button"]'
ATTACHED = "#chat-input .thumbnail-item"

PASTE = """async ([b64, name]) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, {type: 'image/png'}));
    const box = document.querySelector('#chat-input textarea');
    box.focus();
    box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
}"""


@pytest.fixture(scope="module", autouse=True)
def strict(fake: FakeProvider) -> Iterator[None]:
    """The fake refuses what real providers refuse, with their own 400 bodies."""
    fake.strict = True
    yield
    fake.strict = False


@pytest.fixture(scope="module")
def app(fake: FakeProvider) -> Iterator[RunningApp]:
    """OpenAI on a server key, so the page opens on a vision model (gpt-4.1-mini)."""
    running = start_app(load_settings(routed_env(fake, OPENAI_API_KEY=SERVER_KEY), dotenv_path=None))
    yield running
    running.close()


def attach(chat: ChatPage, *paths: Path) -> None:
    """Click the paperclip and pick the files, as a person does."""
    with chat.page.expect_file_chooser() as chooser:
        chat.page.locator(UPLOAD_BUTTON).click()
    chooser.value.set_files([str(p) for p in paths])


def send_with_files(chat: ChatPage, text: str, count: int) -> str:
    """Type, wait for the attachments to finish uploading, send, and return the reply."""
    expect(chat.page.locator(ATTACHED)).to_have_count(count, timeout=WAIT_MS)
    before = len(chat.bots())
    usage = chat.page.locator("#usage").inner_text()
    sent = chat.page.locator(USER).count()
    chat.textbox.fill(text)
    chat.page.locator('#chat-input button[data-testid="submit-button"]').click()
    expect(chat.page.locator(USER)).not_to_have_count(sent, timeout=WAIT_MS)
    chat.wait_done()
    expect(chat.page.locator(BOT)).to_have_count(before + 1, timeout=WAIT_MS)
    # The usage line is refreshed by an event after each reply: once it changed, the page has
    # nothing left in flight for this chat (a reload would otherwise cut that request short).
    expect(chat.page.locator("#usage")).not_to_have_text(usage, timeout=WAIT_MS)
    return chat.bots()[-1]


def test_a_file_over_the_limit_is_refused_in_our_words_and_never_sent(
    app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage], tmp_path: Path
) -> None:
    chat = tabs(app.url)
    page = chat.page
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 11_000_000)  # over the default 10 MB
    chat.textbox.fill("read this")
    attach(chat, big)
    note = page.locator("#upload-refused")
    expect(note).to_have_text('Not attached: "big.txt" is 11.0 MB, over the 10 MB limit per file.', timeout=WAIT_MS)
    expect(page.locator(ATTACHED)).to_have_count(0)
    # Not Gradio's refusal, which says "9.5 Mb" for a 10 MB limit.
    expect(page.locator('[data-testid="toast-body"]')).to_have_count(0)
    assert "maximum allowed size" not in page.inner_text("body")
    # The visitor was told; what they send next goes as typed, and the note stays in view.
    provider.reset()
    page.locator('#chat-input button[data-testid="submit-button"]').click()
    expect(page.locator(BOT)).to_contain_text(["You said: read this"], timeout=WAIT_MS)
    chat.wait_done()
    expect(note).to_be_visible()
    [request] = provider.chat_requests
    assert "read this" in str(request.body["messages"][-1]) and "aaaa" not in str(request.body)


def answer(bot_text: str) -> str:
    """A reply's answer, without the line of numbers the page shows under it."""
    return re.split(r"\n+\d+ in · ", bot_text, maxsplit=1)[0].strip()


def shown_images_loaded(page: Page) -> list[bool]:
    """Each image shown in the user's messages, and whether the browser could load it."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-testid="user"] img'))
            .map(img => img.complete && img.naturalWidth > 0)"""
    )


def test_an_attached_png_reaches_the_provider_as_a_data_url_and_history_resends_it(
    app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage], tmp_path: Path
) -> None:
    chat = tabs(app.url)
    png = tmp_path / "red-square.png"
    png.write_bytes(image_bytes("PNG", (120, 80), "red"))
    attach(chat, png)
    # Each answer has its line of numbers under it.
    assert answer(send_with_files(chat, "what colour is this?", 1)) == "You said: what colour is this? [saw 1 images]"
    (url,) = provider.image_urls()
    mime, sent = decode_data_url(url)
    assert mime == "image/png" and sent.startswith(b"\x89PNG")
    body = repr(provider.chat_requests[-1].body)
    assert app.url not in body and "gradio_api" not in body and str(tmp_path) not in body
    # The visitor sees their own image, served back to their browser only.
    expect(chat.page.locator(f"{USER} img")).to_have_count(1, timeout=WAIT_MS)
    assert shown_images_loaded(chat.page) == [True]

    # The next turn re-sends the server's own copy, byte for byte, and only that.
    assert answer(chat.chat("and now?")) == "You said: and now?"
    assert provider.image_urls() == [url]
    roles = [m["role"] for m in provider.chat_requests[-1].body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_a_pasted_image_and_a_pdf_are_sent(
    app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage], tmp_path: Path
) -> None:
    chat = tabs(app.url)
    pasted = image_bytes("PNG", (30, 30), "blue")
    chat.page.evaluate(PASTE, [base64.b64encode(pasted).decode(), "clipboard.png"])
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(pdf_with_text("Minutes of the meeting", "Budget approved"))
    attach(chat, pdf)
    reply = send_with_files(chat, "summarise", 2)
    assert reply.startswith("You said: summarise") and "Budget approved" in reply and "[saw 1 images]" in reply
    (url,) = provider.image_urls()
    _, sent = decode_data_url(url)
    assert sent.startswith(b"\x89PNG")
    user = provider.chat_requests[-1].body["messages"][-1]["content"]
    text = next(p["text"] for p in user if p["type"] == "text")
    assert "```minutes.pdf\n" in text and "Budget approved" in text


def test_a_30_mb_file_and_a_renamed_exe_are_refused_and_nothing_is_sent(
    app: RunningApp, provider: FakeProvider, tabs: Callable[[str], ChatPage], tmp_path: Path
) -> None:
    chat = tabs(app.url)
    huge = tmp_path / "huge-photo.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30_000_000)
    attach(chat, huge)
    # The page says the file is too large, in its own words under the box (not Gradio's toast).
    expect(chat.page.locator("#upload-refused")).to_contain_text('"huge-photo.png" is 30.0 MB', timeout=WAIT_MS)
    expect(chat.page.locator(ATTACHED)).to_have_count(0)
    assert not [p for p in Path(app.demo.server_app.uploaded_file_dir).rglob("huge-photo.png")]

    exe = tmp_path / "holiday.png"
    exe.write_bytes(EXE_BYTES)
    attach(chat, exe)
    expect(chat.page.locator(ATTACHED)).to_have_count(1, timeout=WAIT_MS)
    chat.textbox.fill("look at my holiday")
    chat.page.locator('#chat-input button[data-testid="submit-button"]').click()
    expect(chat.last_bot()).to_contain_text("holiday.png is not really a PNG image", timeout=WAIT_MS)
    chat.wait_done()
    assert not provider.chat_requests

    # The chat goes on; the failed turn, and the refused file with it, is left out of what follows.
    chat.send("just text then")
    expect(chat.last_bot()).to_have_text(re.compile(r"^You said: just text then\s+\d+ in · "), timeout=WAIT_MS)
    chat.wait_done()
    assert provider.image_urls() == []
    assert "MZ" not in repr(provider.chat_requests[-1].body)


def test_no_key_leaks_with_images_in_play(
    app: RunningApp, provider: FakeProvider, browser: Browser, tmp_path: Path
) -> None:
    visitor_key = canary("images-leak-visitor")
    canaries = (SERVER_KEY, visitor_key)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    capture = Capture().attach(page)
    chat = ChatPage(page, app.url).open()
    kept: list[str] = []

    # Server key with an image, then a text-only model refusing one: o3-mini, which the registry
    # does not list, so the image goes and the strict fake answers with OpenAI's own 400.
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes("JPEG", (2400, 1600), "green"))
    attach(chat, photo)
    assert send_with_files(chat, "describe", 1).endswith("[saw 1 images]")
    chat.set_model("o3-mini")
    attach(chat, photo)
    expect(page.locator(ATTACHED)).to_have_count(1, timeout=WAIT_MS)
    chat.textbox.fill("and again")
    page.locator('#chat-input button[data-testid="submit-button"]').click()
    expect(chat.last_bot()).to_contain_text("pick a vision model", timeout=WAIT_MS)
    chat.wait_done()
    capture.settle(page)
    kept.append(browser_state(page, context))

    # A visitor key on another provider, with an image, then a reload.
    chat.choose_provider("OpenRouter")
    chat.enter_key(visitor_key)
    chat.set_model("openai/gpt-4o-mini")
    attach(chat, photo)
    # The turn the text-only model refused is left out of what goes upstream.
    assert answer(send_with_files(chat, "with my key", 1)) == "You said: with my key [saw 1 images]"
    capture.settle(page)
    kept.append(browser_state(page, context))
    chat.reload()
    assert answer(chat.chat("after reload")) == "You said: after reload"
    capture.settle(page)
    kept.append(browser_state(page, context))
    capture.recover(page)
    capture.stop()
    context.close()

    sent = [r for r in provider.chat_requests if provider.image_urls(r)]
    assert {r.authorization for r in sent} == {f"Bearer {SERVER_KEY}", f"Bearer {visitor_key}"}
    for request in sent:
        for url in provider.image_urls(request):
            mime, data = decode_data_url(url)
            assert mime == "image/jpeg" and len(data) < photo.stat().st_size  # downscaled copy
    streams = capture.streams()
    for reply in ("You said: describe", "You said: with my key", "You said: after reload"):
        assert reply in streams, f"the event-stream capture missed {reply!r}"
    assert capture.unread() == []
    assert find_any(capture.everything(), canaries) == [], "a key reached the browser in a response body"
    for state in kept:
        assert '"local"' in state and '"cookies"' in state
        assert find_any(state, canaries) == [], "a key is kept in the browser's storage or page"


def test_an_upload_over_the_address_budget_is_refused_in_words(
    fake: FakeProvider, tabs: Callable[[str], ChatPage], tmp_path: Path
) -> None:
    env = routed_env(fake, OPENAI_API_KEY=SERVER_KEY, MAX_IMAGE_MB="1", UPLOAD_LIMIT_MB="1/hour")
    running = start_app(load_settings(env, dotenv_path=None))
    try:
        chat = tabs(running.url)
        photos = []
        for colour in ("red", "green"):
            photo = tmp_path / f"{colour}.png"
            photo.write_bytes(image_bytes(color=colour) + b"\x00" * 600_000)
            photos.append(photo)
        attach(chat, photos[0])
        expect(chat.page.locator(ATTACHED)).to_have_count(1, timeout=WAIT_MS)
        attach(chat, photos[1])
        said = chat.toast("You have uploaded 1 MB per hour from here")
        assert "Try again in" in said and "{" not in said, said
        expect(chat.page.locator(ATTACHED)).to_have_count(1)
    finally:
        running.close()
