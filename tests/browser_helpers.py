"""Driving byok-chat in headless Chromium: the app, one chat page, and what the page received.

Selectors are Gradio 6.31's own (data-testid and aria-label on the chatbot's buttons) plus the
elem_ids the page (ui/) sets on wrapper divs (#provider, #model, #key-box, #key-status, #forget-key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, CDPSession, Page, Request, expect

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1200, "height": 800}
# Generous: two shared cores, and the app, the fake provider and Chromium all compete for them.
WAIT_MS = 15_000

SUBMIT = 'button[data-testid="submit-button"]'
# The plain Textbox's stop button has a test id; the multimodal box's (the chat takes files) only
# its class.
STOP = 'button[data-testid="stop-button"], [aria-label="Multimedia input field"] button.stop-button'
USER = '[data-testid="user"]'
BOT = '[data-testid="bot"]'
PASSWORD = 'input[type="password"]'
TOAST = '[data-testid="toast-body"]'
# A failed chat: one titled bubble in the chat (ui/handlers.py's error_bubble), styled by its CSS.
ERROR_BUBBLE = f"{BOT} .thought-group"
# The muted line under an answer: "11 in · 6 out · first token 140 ms · total 1.2 s".
STATS_LINE = re.compile(r"\s*~?[\d,]+ in · ~?[\d,]+ out · .*\Z", re.DOTALL)


def chromium_path() -> str:
    """The Debian Chromium, or skip on a laptop without it. In CI a missing browser is a failure."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium for the browser tests")
    pytest.skip(f"{CHROMIUM} is not installed")


class ChatPage:
    """One tab of the chat UI."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    def open(self) -> ChatPage:
        self.page.goto(self.url)
        self.wait_loaded()
        return self

    def wait_loaded(self) -> None:
        expect(self.textbox).to_be_editable(timeout=WAIT_MS)
        # The page's load event fills in the usage line; until it has run, a key typed into the
        # box can be overwritten by the load event's own view of the key box.
        expect(self.page.locator("#usage")).to_contain_text("usage", timeout=WAIT_MS)

    def reload(self) -> None:
        self.page.reload()
        self.wait_loaded()

    @property
    def textbox(self):
        # The chat box is the only textbox without a label; the system prompt's has one.
        return self.page.locator('textarea[data-testid="textbox"].no-label')

    @property
    def key_box(self):
        return self.page.locator(f"#key-box {PASSWORD}")

    def status(self) -> str:
        return self.page.locator("#key-status").inner_text()

    def bots(self) -> list[str]:
        """The assistant messages' text, without the line of numbers under each answer."""
        return [STATS_LINE.sub("", text) for text in self.page.locator(BOT).all_inner_texts()]

    def users(self) -> list[str]:
        return self.page.locator(USER).all_inner_texts()

    def last_bot(self):
        return self.page.locator(BOT).last

    def send(self, text: str) -> None:
        expect(self.textbox).to_be_editable(timeout=WAIT_MS)
        sent = self.page.locator(USER).count()
        self.textbox.fill(text)
        self.page.locator(SUBMIT).click()
        # The page takes the message asynchronously (the multimodal box first waits for its
        # uploads): until the message shows, the box still looks idle and wait_done would pass.
        expect(self.page.locator(USER)).not_to_have_count(sent, timeout=WAIT_MS)

    def wait_done(self) -> None:
        """The reply finished: ChatInterface gives the submit button and the textbox back."""
        expect(self.page.locator(SUBMIT)).to_be_visible(timeout=WAIT_MS)
        expect(self.textbox).to_be_editable(timeout=WAIT_MS)

    def chat(self, text: str) -> str:
        before = len(self.bots())
        self.send(text)
        self.wait_done()
        expect(self.page.locator(BOT)).to_have_count(before + 1, timeout=WAIT_MS)
        return self.bots()[-1]

    def enter_key(self, key: str) -> None:
        self.key_box.fill(key)
        self.key_box.press("Enter")
        expect(self.page.locator("#key-status")).to_contain_text("key is set", timeout=WAIT_MS)

    def set_model(self, model: str) -> None:
        """Type a model id into the model dropdown (it accepts custom values)."""
        box = self.page.locator("#model input")
        box.click()
        box.fill(model)
        box.press("Enter")
        expect(box).to_have_value(model, timeout=WAIT_MS)

    def choose_provider(self, label: str) -> None:
        self.page.locator("#provider input").click()
        self.page.locator(f'[data-testid="dropdown-option"][aria-label="{label}"]').click()
        expect(self.page.locator("#provider input")).to_have_value(label, timeout=WAIT_MS)
        # The switch event redraws the key box; a key typed before that lands would be blanked.
        expect(self.page.locator("#key-status")).to_contain_text(label, timeout=WAIT_MS)

    def toast(self, expected: str) -> str:
        """Wait for a toast saying ``expected``; return that toast's whole text."""
        toast = self.page.locator(TOAST).filter(has_text=expected)
        expect(toast.first).to_be_visible(timeout=WAIT_MS)
        return toast.first.inner_text()

    def error(self, expected: str):
        """Wait for the chat's error bubble saying ``expected``; it must be the only signal."""
        bubble = self.page.locator(ERROR_BUBBLE).filter(has_text=expected)
        expect(bubble.last).to_be_visible(timeout=WAIT_MS)
        # Once the event is over, any toast it raised would be on screen.
        self.wait_done()
        expect(self.page.locator(TOAST)).to_have_count(0)
        return bubble.last

    def close_toasts(self) -> None:
        for button in self.page.locator(f"{TOAST} .toast-close").all():
            button.click()
        expect(self.page.locator(TOAST)).to_have_count(0, timeout=WAIT_MS)

    def chat_button(self, label: str, index: int = -1):
        """One of the chatbot's own message buttons: Retry, Undo, Edit, Copy message; or Clear."""
        buttons = self.page.locator(f'button[aria-label="{label}"]')
        return buttons.nth(index) if index >= 0 else buttons.last


_STATIC = frozenset({"font", "image", "stylesheet", "script"})


@dataclass
class Capture:
    """Every response body the page received, event streams included.

    Two sources, because neither sees everything alone: a request's body is read when it finishes
    (Playwright), and an event stream's bytes are recorded as they arrive (Chrome DevTools
    Network.streamResourceContent), which also covers streams that never finish (Gradio's
    heartbeat) or are cut by Stop or a reload. A request that neither source read is listed by
    ``unread()``: a body we could not read is a body we did not check.
    """

    bodies: list[tuple[str, str]] = field(default_factory=list)
    streamed: dict[str, tuple[str, bytearray]] = field(default_factory=dict)
    not_finished: list[str] = field(default_factory=list)
    pending: set[Request] = field(default_factory=set)
    # Static files whose body Chromium did not keep (fonts): fetched again in recover().
    refetch: list[str] = field(default_factory=list)
    stopped: bool = False

    def attach(self, page: Page) -> Capture:
        page.on("request", self._started)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", self._failed)
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.responseReceived", lambda event: self._stream(cdp, event))
        cdp.on("Network.dataReceived", self._data)
        cdp.send("Network.enable")
        return self

    def stop(self) -> None:
        """Stop recording: what a closing page still sends is never read by it."""
        self.stopped = True

    def _started(self, request: Request) -> None:
        if not self.stopped:
            self.pending.add(request)

    def _finished(self, request: Request) -> None:
        if request not in self.pending:
            return
        self.pending.discard(request)
        response = request.response()
        try:
            body = response.body() if response is not None else b""
        except Exception as exc:  # noqa: BLE001 - fetched again, or reported by unread()
            if request.method == "GET" and request.resource_type in _STATIC:
                self.refetch.append(request.url)
            else:
                self.not_finished.append(f"{request.url} ({type(exc).__name__})")
            return
        # Fonts and images too: latin-1 keeps every byte, so an ASCII key is found anywhere.
        self.bodies.append((request.url, body.decode("latin-1")))

    def _failed(self, request: Request) -> None:
        if request in self.pending:
            self.pending.discard(request)
            self.not_finished.append(f"{request.url} ({request.failure})")

    def recover(self, page: Page) -> None:
        """Fetch again, with the page's cookies, the static files whose bodies Chromium dropped."""
        for url in dict.fromkeys(self.refetch):
            response = page.request.get(url)
            assert response.ok, f"{url} answered {response.status}"
            self.bodies.append((url, response.body().decode("latin-1")))
        self.refetch.clear()

    def _stream(self, cdp: CDPSession, event: dict[str, Any]) -> None:
        response = event["response"]
        if "event-stream" not in response.get("mimeType", ""):
            return
        try:
            started = cdp.send("Network.streamResourceContent", {"requestId": event["requestId"]})
        except Exception:  # noqa: BLE001 - it already finished, so requestfinished reads it whole
            return
        data = bytearray(base64.b64decode(started.get("bufferedData", "")))
        self.streamed[event["requestId"]] = (response["url"], data)

    def _data(self, event: dict[str, Any]) -> None:
        stream = self.streamed.get(event["requestId"])
        if stream is not None and event.get("data"):
            stream[1].extend(base64.b64decode(event["data"]))

    def _covered(self, url: str) -> bool:
        return any(stream_url == url for stream_url, _ in self.streamed.values())

    def settle(self, page: Page, timeout_ms: int = WAIT_MS) -> None:
        """Wait until every request is finished, or is a stream whose bytes are being recorded."""
        waited = 0
        while any(not self._covered(r.url) for r in self.pending) and waited < timeout_ms:
            page.wait_for_timeout(100)
            waited += 100
        open_ = [r.url for r in self.pending if not self._covered(r.url)]
        assert not open_, f"requests still open and not recorded: {open_}"

    def unread(self) -> list[str]:
        never = [f"{r.url} (still open)" for r in self.pending] + self.not_finished
        return [entry for entry in never if not self._covered(entry.split(" (")[0])]

    def streams(self) -> str:
        finished = [text for url, text in self.bodies if "/queue/data" in url]
        live = [data.decode("utf-8", "replace") for url, data in self.streamed.values()]
        return "\n".join(finished + live)

    def everything(self) -> str:
        live = [data.decode("utf-8", "replace") for _, data in self.streamed.values()]
        return "\n".join([text for _, text in self.bodies] + live)


STORAGE_DUMP = """async () => {
    const dump = {local: {}, session: {}, indexeddb: {}};
    for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i); dump.local[k] = localStorage.getItem(k);
    }
    for (let i = 0; i < sessionStorage.length; i++) {
        const k = sessionStorage.key(i); dump.session[k] = sessionStorage.getItem(k);
    }
    const dbs = indexedDB.databases ? await indexedDB.databases() : [];
    for (const info of dbs) {
        const db = await new Promise((ok, no) => {
            const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
        });
        const stores = {};
        for (const name of Array.from(db.objectStoreNames)) {
            stores[name] = await new Promise((ok, no) => {
                const r = db.transaction(name, "readonly").objectStore(name).getAll();
                r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
            });
        }
        dump.indexeddb[info.name] = stores;
        db.close();
    }
    return dump;
}"""


def saved_conversations(page: Page) -> list[Any]:
    """The chats ChatInterface(save_history=True) keeps in localStorage, decrypted.

    Gradio's BrowserState encrypts with CryptoJS (AES-CBC, OpenSSL's MD5 key derivation) under a
    passphrase derived from a secret that /config hands to every visitor: decrypting it is what
    anyone reading the storage can do, so a key must not be in the plain text.
    """
    from ui.chat import SAVED_CHATS_KEY

    config = page.request.get(f"{page.url.rstrip('/')}/config").json()
    props = next(
        c["props"]
        for c in config["components"]
        if c.get("type") == "browserstate" and c["props"].get("storage_key") == SAVED_CHATS_KEY
    )
    stored = page.evaluate("(key) => localStorage.getItem(key)", props["storage_key"])
    if not stored:
        return []
    return json.loads(_cryptojs_decrypt(stored.split(":", 1)[1], hashlib.sha256(props["secret"].encode()).hexdigest()))


def _cryptojs_decrypt(ciphertext: str, passphrase: str) -> str:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    raw = base64.b64decode(ciphertext)
    assert raw[:8] == b"Salted__", "not CryptoJS's passphrase format"
    salt, body = raw[8:16], raw[16:]
    derived, block = b"", b""
    while len(derived) < 48:  # OpenSSL EVP_BytesToKey with MD5: a 32-byte key and a 16-byte IV
        block = hashlib.md5(block + passphrase.encode() + salt).digest()
        derived += block
    decryptor = Cipher(algorithms.AES(derived[:32]), modes.CBC(derived[32:48])).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


def browser_state(page: Page, context: BrowserContext) -> str:
    """Everything the browser keeps for the app, as one searchable text."""
    stored = page.evaluate(STORAGE_DUMP)
    cookies = context.cookies()
    return json.dumps({"storage": stored, "cookies": cookies, "html": page.content()}, default=str)


def find_any(haystack: str, needles: Iterable[str]) -> list[str]:
    return [needle for needle in needles if needle in haystack]


def words(text: str, word: str) -> int:
    return len(re.findall(rf"\b{re.escape(word)}\b", text))


def decoded_cookies(context: BrowserContext) -> str:
    """Every cookie the browser holds, with each dot-separated part base64-decoded where it can be:
    Starlette's session cookie is base64 JSON, a timestamp and a signature."""
    out = []
    for cookie in context.cookies():
        out.append(f"{cookie['name']}={cookie['value']}")
        for part in cookie["value"].split("."):
            padded = part + "=" * (-len(part) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    out.append(decode(padded).decode("latin-1"))
                except (binascii.Error, ValueError):
                    continue
    return "\n".join(out)
