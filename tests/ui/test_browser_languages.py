"""In Chromium with the browser set to Chinese, Japanese or Spanish, as a visitor would: the first
screen has no English left but names (providers, models, the product, Gradio's own), a 401, a quota
refusal and an upload refusal come in that language, and switching the browser's language then
reloading switches the page. On a phone in German and Japanese nothing overflows.

Chromium's ``locale`` sets both navigator.language (which Gradio's page and gr.I18n follow) and the
Accept-Language header (which the server's messages follow), as a browser set to that language does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from config.settings import load_settings
from errors import ServerKeyRejected
from tests import REPO
from tests.browser_helpers import BOT, ERROR_BUBBLE, VIEWPORT, WAIT_MS, ChatPage
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider
from words import ENGLISH, Phrase, Rate, catalogue, say, template

pytestmark = pytest.mark.browser

SERVER_KEY = canary("languages-server")
# Chromium's locale -> the catalogue the page should speak.
LOCALES = {"zh-CN": "zh-CN", "ja-JP": "ja", "es-ES": "es"}
PHONE = {"width": 390, "height": 844}
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
UPLOAD_BUTTON = '#chat-input button[data-testid="upload-button"]'

# Names, not English: the product, Gradio's name in its own footer, protocol and unit names, and
# the keyboard's Enter key, which Chinese, Japanese and Korean UIs name as printed on the key. The
# providers and models on screen are added per page.
NAMES = {"byok-chat", "gradio", "api", "id", "http", "https", "url", "mb", "json", "markdown", "enter"}
# Gradio's own footer in English, in case its translation did not load.
GRADIO_ENGLISH = {"use", "via", "built", "with", "settings"}
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
CJK = {"zh-CN", "ja", "ko"}


def words_in(text: str) -> set[str]:
    return {word.lower() for word in WORD.findall(text)}


def vocabulary(language: str) -> set[str]:
    """The words of a catalogue's sentences, placeholders ("{provider}") left out."""
    return words_in(re.sub(r"\{[^{}]*\}", " ", " ".join(catalogue(language).values())))


def english_left(text: str, language: str, names: set[str]) -> set[str]:
    """Words on screen that are English and not a name. A word is English when our English
    catalogue uses it and the page's catalogue does not (so Spanish "no" or "modelo" never count).
    In Chinese and Japanese every Latin word must also be one the catalogue itself uses."""
    ours = vocabulary(language)
    english = vocabulary(ENGLISH) - ours | GRADIO_ENGLISH
    found = words_in(text) - NAMES - names
    left = found & english
    if language in CJK:
        left |= found - ours
    return left


def screen_text(page: Page) -> str:
    """What a visitor reads: the visible text, and the hints inside empty boxes."""
    hints = page.eval_on_selector_all(
        "[placeholder]", "(boxes) => boxes.filter((b) => b.offsetParent).map((b) => b.placeholder)"
    )
    return page.inner_text("body") + "\n" + "\n".join(hints)


def names_on(running: RunningApp) -> set[str]:
    found: set[str] = set()
    for provider in running.settings.providers:
        found |= words_in(provider.label)
        for model in provider.models:
            found |= words_in(model)
    return found


class LocalPage(ChatPage):
    """A chat tab whose load is recognised in its own language."""

    def __init__(self, page: Page, url: str, language: str) -> None:
        super().__init__(page, url)
        self.language = language

    def wait_loaded(self) -> None:
        expect(self.textbox).to_be_editable(timeout=WAIT_MS)
        usage = template(self.language, "usage_today").split("{", 1)[0]
        expect(self.page.locator("#usage")).to_contain_text(usage, timeout=WAIT_MS)

    def error_bubble(self, title_key: str):
        bubble = self.page.locator(ERROR_BUBBLE).filter(has_text=say(self.language, title_key))
        expect(bubble.last).to_be_visible(timeout=WAIT_MS)
        self.wait_done()
        return bubble.last


@pytest.fixture(scope="module")
def server_app(fake: FakeProvider) -> Iterator[RunningApp]:
    """OpenAI on a server key: the page opens in server mode, with the chat taking files."""
    running = start_app(load_settings(routed_env(fake, OPENAI_API_KEY=SERVER_KEY), dotenv_path=None))
    yield running
    running.close()


@pytest.fixture(scope="module")
def byo_app(fake: FakeProvider) -> Iterator[RunningApp]:
    """No server key: the page opens on a provider that asks for the visitor's own key."""
    running = start_app(load_settings(routed_env(fake), dotenv_path=None))
    yield running
    running.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    opened: list[BrowserContext] = []

    def new(locale: str, **options: Any) -> BrowserContext:
        opened.append(browser.new_context(locale=locale, **{"viewport": VIEWPORT, **options}))
        return opened[-1]

    yield new
    for context in opened:
        context.close()


def open_in(context: BrowserContext, url: str, language: str) -> LocalPage:
    chat = LocalPage(context.new_page(), url, language)
    chat.open()
    return chat


def open_settings(page: Page, language: str) -> None:
    sidebar = page.locator(".sidebar")
    sidebar.get_by_text(say(language, "page_settings"), exact=True).first.click()
    expect(sidebar.get_by_text(say(language, "page_system_prompt"), exact=True).first).to_be_visible()


def save_screenshot(page: Page, name: str, tmp_path: Path) -> None:
    """Into docs/screenshots only with UPDATE_SCREENSHOTS=1, as in tests/ui/test_browser.py."""
    folder = DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))
    assert (folder / name).stat().st_size > 10_000


@pytest.mark.parametrize(("locale", "language"), LOCALES.items())
def test_the_first_screen_has_no_english_left(
    server_app: RunningApp,
    byo_app: RunningApp,
    contexts: Callable[..., BrowserContext],
    locale: str,
    language: str,
    tmp_path: Path,
) -> None:
    for running, mode in ((server_app, "server"), (byo_app, "byo")):
        chat = open_in(contexts(locale), running.url, language)
        page = chat.page
        assert page.evaluate("navigator.language") == locale
        # The settings are one click away on the first screen: their labels are read too.
        open_settings(page, language)
        text = screen_text(page)
        assert english_left(text, language, names_on(running)) == set(), f"{mode}: {text}"
        for key in ("page_provider", "page_model", "page_max_tokens", "page_message_placeholder"):
            assert say(language, key) in text, (mode, key)
        provider = running.settings.provider(running.settings.default_provider)
        assert provider is not None
        empty = "empty_server_key" if mode == "server" else "empty_needs_key"
        expect(page.locator("#chat")).to_contain_text(
            say(language, empty, provider=provider.label).split("\n")[0].strip("*")
        )
        if mode == "byo":
            # The key box's states: its label and hint, and what it says once a key is in.
            status = say(language, "status_enter_key", provider=provider.label)
            expect(page.locator("#key-status")).to_have_text(status, timeout=WAIT_MS)
            box = page.locator("#key-box input")
            expect(box).to_have_attribute("placeholder", say(language, "page_key_placeholder"))
            box.fill(canary("languages-visitor"))
            box.press("Enter")
            set_status = say(language, "status_key_set", provider=provider.label)
            expect(page.locator("#key-status")).to_have_text(set_status, timeout=WAIT_MS)
            expect(box).to_have_attribute("placeholder", say(language, "page_key_set_placeholder"))
            if language == "zh-CN":
                save_screenshot(page, "desktop-zh.png", tmp_path)


@pytest.mark.parametrize(("locale", "language"), LOCALES.items())
def test_a_401_and_an_upload_refusal_come_in_the_browsers_language(
    server_app: RunningApp,
    contexts: Callable[..., BrowserContext],
    locale: str,
    language: str,
    tmp_path: Path,
) -> None:
    chat = open_in(contexts(locale), server_app.url, language)
    chat.set_model("status-401")
    chat.send("hello")
    bubble = chat.error_bubble("title_server_key_rejected")
    said = bubble.inner_text()
    assert ServerKeyRejected("OpenAI", status=401).text(language) in said
    assert say(language, "left_out") in said
    assert "rejected" not in said and "fake 401" not in said

    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 11_000_000)  # over the default 10 MB
    with chat.page.expect_file_chooser() as chooser:
        chat.page.locator(UPLOAD_BUTTON).click()
    chooser.value.set_files(str(big))
    named = say(language, "upload_file_size", name="big.txt", size="11.0")
    refused = say(language, "upload_refused", files=named, limit="10 MB", others="")
    expect(chat.page.locator("#upload-refused")).to_have_text(refused, timeout=WAIT_MS)


@pytest.mark.parametrize(("locale", "language"), LOCALES.items())
def test_a_quota_refusal_comes_in_the_browsers_language(
    fake: FakeProvider,
    contexts: Callable[..., BrowserContext],
    locale: str,
    language: str,
) -> None:
    running = start_app(
        load_settings(routed_env(fake, OPENAI_API_KEY=SERVER_KEY, RATE_LIMIT="1/minute"), dotenv_path=None)
    )
    try:
        chat = open_in(contexts(locale), running.url, language)
        chat.set_model("echo-5")
        chat.send("one")
        chat.wait_done()
        expect(chat.page.locator(BOT)).to_contain_text(["You said"], timeout=WAIT_MS)
        chat.send("two")
        said = chat.error_bubble("title_usage_limit").inner_text()
        what = Phrase("quota_requests", {"limit": Rate("1", "minute")}).in_language(language)
        assert template(language, "error_quota").split("{wait}")[0].format(what=what) in said
        # The usage line says the same limit in the same language.
        limits = say(language, "usage_limits", limits=Rate("1", "minute").in_language(language)).strip()
        expect(chat.page.locator("#usage")).to_contain_text(limits, timeout=WAIT_MS)
    finally:
        running.close()


def test_switching_the_browser_language_and_reloading_switches_the_page(
    server_app: RunningApp, contexts: Callable[..., BrowserContext]
) -> None:
    context = contexts("zh-CN")
    chat = open_in(context, server_app.url, "zh-CN")
    page = chat.page
    expect(page.locator("#provider")).to_contain_text(say("zh-CN", "page_provider"))
    for locale, language in (("ja-JP", "ja"), ("es-ES", "es"), ("en-US", ENGLISH)):
        # What changing the browser's language does: navigator.language and Accept-Language both.
        cdp = context.new_cdp_session(page)
        agent = page.evaluate("navigator.userAgent")
        cdp.send("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": locale})
        context.set_extra_http_headers({"Accept-Language": locale})
        chat.language = language
        chat.reload()
        assert page.evaluate("navigator.language") == locale
        expect(page.locator("#provider")).to_contain_text(say(language, "page_provider"))
        expect(page.locator("#key-status")).to_have_text(say(language, "status_server_key", provider="OpenAI"))
        if language != ENGLISH:
            text = screen_text(page)
            assert english_left(text, language, names_on(server_app)) == set(), text
        cdp.detach()


@pytest.mark.parametrize(
    ("locale", "language", "shot"), [("de-DE", "de", "phone-de.png"), ("ja-JP", "ja", "phone-ja.png")]
)
def test_on_a_phone_nothing_overflows_in_long_words_or_wide_script(
    byo_app: RunningApp,
    contexts: Callable[..., BrowserContext],
    locale: str,
    language: str,
    shot: str,
    tmp_path: Path,
) -> None:
    context = contexts(locale, viewport=PHONE, is_mobile=True, has_touch=True)
    chat = open_in(context, byo_app.url, language)
    page = chat.page
    assert overflowing(page, ["html", "body", "#chat"]) == []
    toggle = page.locator(".sidebar .toggle-button")
    toggle.click()
    expect(page.locator(".sidebar")).to_have_class(re.compile(r"\bopen\b"))
    page.wait_for_function("() => document.querySelector('.sidebar').getAnimations().length === 0")
    open_settings(page, language)
    controls = ["html", "body", ".sidebar", "#provider", "#model", "#key-box", "#key-status", "#check-key", "#usage"]
    assert overflowing(page, controls) == []
    # Every button and label in the sidebar shows its whole text.
    assert cut_off_text(page, ".sidebar button, .sidebar label, .sidebar span") == []
    save_screenshot(page, shot, tmp_path)


def overflowing(page: Page, selectors: list[str]) -> list[str]:
    """Each element wider inside than on screen, or reaching past the screen's right edge."""
    return page.evaluate(
        """(selectors) => selectors.flatMap((selector) => {
            const element = document.querySelector(selector);
            if (!element) return [selector + ": missing"];
            const box = element.getBoundingClientRect();
            const wide = element.scrollWidth > element.clientWidth + 1;
            const past = selector !== "html" && box.right > document.documentElement.clientWidth + 1;
            const says = `${selector}: ${element.scrollWidth} > ${element.clientWidth}, right ${box.right}`;
            return wide || past ? [says] : [];
        })""",
        selectors,
    )


def cut_off_text(page: Page, selector: str) -> list[str]:
    """Visible elements whose own text is wider than the element (clipped or ellipsed)."""
    return page.eval_on_selector_all(
        selector,
        """(elements) => elements
            .filter((e) => e.offsetParent && e.innerText.trim() && e.scrollWidth > e.clientWidth + 1)
            .filter((e) => {
                const style = getComputedStyle(e);
                return style.overflowX !== "visible" || style.textOverflow === "ellipsis";
            })
            .map((e) => `${e.tagName} "${e.innerText.trim().slice(0, 40)}": ${e.scrollWidth} > ${e.clientWidth}`)""",
    )
