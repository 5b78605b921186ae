"""Sign in with Hugging Face and chat on your own account, the whole round trip in Chromium.

The app runs as a Space runs it (a fresh venv from requirements.txt, the git-tracked files,
``SYSTEM=spaces``, ``SPACE_ID`` and the ``OAUTH_*`` variables) with ``OAUTH_SCOPES`` granting
``inference-api``, and nothing else set for the mode. tests/oidc_provider.py plays the Hub's login
and records every access token it issues; the fake provider plays the Inference Providers router
(the hf row's base URL) and every other row, and records each bearer it receives. The operator also
has a Groq server key, so the sign-in mixes with a server key on another row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests import gradio_raw as raw
from tests.browser_helpers import (
    VIEWPORT,
    WAIT_MS,
    Capture,
    ChatPage,
    browser_state,
    decoded_cookies,
)
from tests.conftest import canary, free_port, routed_env
from tests.deploy_helpers import AppProcess, base_environment, read_all, run_app
from tests.fake_provider import FakeProvider
from tests.hub_login import SIGN_IN, approve, frame_friendly_chromium, sign_in, space_page
from tests.oidc_provider import HubUser, OpenIDProvider

pytestmark = pytest.mark.browser

SERVER_KEY = canary("groq-server")
# How long brief's tokens last: long enough for the page to load after sign-in on two busy cores.
BRIEF_SECONDS = 8
USERS = {
    "alice": HubUser("alice"),
    "brief": HubUser("brief", token_seconds=BRIEF_SECONDS),
    "carol": HubUser("carol", orgs=(("acme", "ACME Research"),)),
}


@dataclass
class Space:
    app: AppProcess
    idp: OpenIDProvider
    home: Path
    # Where the frame test serves its stand-in for the Hub's Space page (a FRAME_ANCESTORS origin).
    top_port: int


@pytest.fixture(scope="module")
def space(
    deployed_python: Path, tracked_copy: Path, fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Space]:
    idp = OpenIDProvider(users=USERS, scopes="openid profile inference-api").start()
    port, top_port = free_port(), free_port()
    home = tmp_path_factory.mktemp("signin-home")
    env = base_environment(
        home,
        SYSTEM="spaces",
        SPACE_ID="tester/byok-chat",
        **idp.space_environment(),
        **routed_env(
            fake, GROQ_API_KEY=SERVER_KEY, DEFAULT_PROVIDER="hf", FRAME_ANCESTORS=f"http://localhost:{top_port}"
        ),
        GRADIO_SERVER_PORT=str(port),
    )
    try:
        with run_app(deployed_python, tracked_copy, env, port=port) as app:
            yield Space(app=app, idp=idp, home=home, top_port=top_port)
            log = app.log()
        assert idp.issued, "nobody signed in"
        assert not [token for token in [*idp.issued, SERVER_KEY] if token in log]
    finally:
        idp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with frame_friendly_chromium() as chromium:
        yield chromium


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    yield ctx
    ctx.close()


def latest_token(space: Space) -> str:
    return space.idp.issued[-1]


def bearers(fake: FakeProvider, token: str) -> list[str]:
    """The paths every request carrying ``token`` went to."""
    return [r.path for r in fake.requests if r.authorization == f"Bearer {token}"]


def session_hashes(page: Page, url: str) -> list[str]:
    found: list[str] = []
    page.on("request", lambda r: found.append(r.url) if r.url.startswith(url) and "session_hash=" in r.url else None)
    return found


def test_sign_in_chat_on_your_own_account_and_the_token_stays_on_the_server(
    space: Space, context: BrowserContext, provider: FakeProvider, tmp_path: Path
) -> None:
    page = context.new_page()
    capture = Capture().attach(page)
    seen = session_hashes(page, space.app.url)
    chat = ChatPage(page, space.app.url).open()

    # Before sign-in the hf row asks for it, and a chat is refused with the way out.
    assert "Sign in with Hugging Face" in chat.status()
    chat.send("before signing in")
    chat.error("Sign in with Hugging Face")
    assert provider.chat_requests == []

    sign_in(chat, "alice")
    token = latest_token(space)
    expect(page.locator("#key-status")).to_contain_text("Signed in as alice", timeout=WAIT_MS)
    assert "alice's own Hugging Face account, which pays" in chat.status()

    # The chat goes to the router (the hf row's base URL) with alice's token.
    assert chat.chat("hello on my credits") == "You said: hello on my credits"
    assert bearers(provider, token) == ["/hf/v1/chat/completions"]

    # Another row keeps its server key, and never sees the token.
    chat.choose_provider("Groq")
    assert chat.chat("on the server key").startswith("You said:")
    assert provider.chat_requests[-1].authorization == f"Bearer {SERVER_KEY}"

    # A typed token wins over the sign-in on its row; forgetting it brings the sign-in back.
    chat.choose_provider("Hugging Face Inference Providers")
    typed = canary("typed-hf")
    chat.enter_key(typed)
    chat.chat("with my typed token")
    assert provider.chat_requests[-1].authorization == f"Bearer {typed}"
    page.locator("#forget-key").click()
    expect(page.locator("#key-status")).to_contain_text("Signed in as alice", timeout=WAIT_MS)
    chat.chat("back on the sign-in")
    assert provider.chat_requests[-1].authorization == f"Bearer {token}"
    assert bearers(provider, token) == ["/hf/v1/chat/completions"] * 2
    assert all(r.path.startswith("/hf/") for r in provider.requests if token in (r.authorization or ""))

    # Not in either export of the conversation.
    page.locator("#conversation").get_by_text("Conversation").click()
    for button in ("#export-md", "#export-json"):
        with page.expect_download(timeout=WAIT_MS) as started:
            page.locator(button).click()
        exported = tmp_path / started.value.suggested_filename
        started.value.save_as(exported)
        assert "back on the sign-in" in exported.read_text() and token not in exported.read_text()

    # Nowhere in the page, its storage, its event streams or any cookie, decoded.
    capture.settle(page)
    assert token not in capture.everything()
    assert token not in browser_state(page, context)
    cookies = decoded_cookies(context)
    assert '"oauth_info"' in cookies and '"preferred_username": "alice"' in cookies  # the login cookie, decoded
    assert token not in cookies and "access_token" not in cookies
    # Nor in any file the app wrote (Gradio's temp folder included), nor its log.
    assert token not in read_all(space.home)
    assert token not in space.app.log()

    # A second browser holding the session hash gets 403, with or without a cookie of its own.
    session_hash = seen[-1].split("session_hash=", 1)[1].split("&", 1)[0]
    cfg = raw.config(space.app.url)
    data = raw.chat_data(cfg, "spend alice's credits", "hf", "m")
    stranger = raw.open_page(space.app.url)
    for headers in ({}, stranger.headers):
        stolen = raw.run_event(
            space.app.url, raw.fn_index(cfg, "chat"), data, session_hash=session_hash, headers=headers
        )
        assert stolen.status == 403, stolen.raw
    # Its own session, without alice's browser cookie, has no sign-in either.
    own = raw.run_event(space.app.url, raw.fn_index(cfg, "chat"), data, headers=stranger.headers)
    assert not own.success and "Hugging Face token" in (own.error or "")
    assert bearers(provider, token) == ["/hf/v1/chat/completions"] * 2

    # Signing out forgets the token: the next chat asks to sign in.
    page.get_by_role("button", name="Logout (alice)").click()
    expect(page.get_by_role("button", name=SIGN_IN)).to_be_visible(timeout=WAIT_MS)
    chat.wait_loaded()
    assert "Sign in with Hugging Face" in chat.status()
    chat.send("after signing out")
    chat.error("Sign in with Hugging Face")
    assert bearers(provider, token) == ["/hf/v1/chat/completions"] * 2


def test_an_expired_sign_in_asks_to_sign_in_again(
    space: Space, context: BrowserContext, provider: FakeProvider
) -> None:
    chat = ChatPage(context.new_page(), space.app.url).open()
    sign_in(chat, "brief")
    # The token was issued before this point, so it has expired by BRIEF_SECONDS from now.
    issued_by = time.monotonic()
    token = latest_token(space)
    assert "Signed in as brief" in chat.status()  # held at first: the page names who pays
    time.sleep(max(0.0, issued_by + BRIEF_SECONDS + 0.5 - time.monotonic()))
    chat.send("still there?")
    bubble = chat.error("Sign in again")
    assert "expired or was revoked" in bubble.inner_text()
    assert "401" not in bubble.inner_text()
    assert bearers(provider, token) == []


def test_a_revoked_token_asks_to_sign_in_again_not_a_raw_401(
    space: Space, context: BrowserContext, provider: FakeProvider
) -> None:
    chat = ChatPage(context.new_page(), space.app.url).open()
    sign_in(chat, "alice")
    token = latest_token(space)
    chat.set_model("status-401")  # the router refuses the token, as it does a revoked one
    chat.send("revoked?")
    bubble = chat.error("Sign in again")
    assert "rejected the API key" not in bubble.inner_text() and "HTTP 401" not in bubble.inner_text()
    # The refused token is forgotten: nothing more is sent with it, and the page says why.
    chat.set_model("openai/gpt-oss-120b")
    chat.send("and now?")
    chat.error("Sign in again")
    assert bearers(provider, token) == ["/hf/v1/chat/completions"]
    # Gradio's login cookie still names alice, but the button offers sign-in: it fetches a new token.
    chat.reload()
    assert "Sign in again" in chat.status()
    sign_in(chat, "alice")
    renewed = latest_token(space)
    assert renewed != token
    assert chat.chat("signed in again") == "You said: signed in again"
    assert bearers(provider, renewed) == ["/hf/v1/chat/completions"]


def test_no_credits_says_so_with_the_billing_link(
    space: Space, context: BrowserContext, provider: FakeProvider
) -> None:
    chat = ChatPage(context.new_page(), space.app.url).open()
    sign_in(chat, "alice")
    chat.set_model("status-402")
    chat.send("one more question")
    bubble = chat.error("no Inference Providers credits left")
    expect(bubble.locator('a[href="https://huggingface.co/settings/billing"]')).to_have_count(1)


def test_a_cancelled_sign_in_leaves_the_page_usable(
    space: Space, context: BrowserContext, provider: FakeProvider
) -> None:
    chat = ChatPage(context.new_page(), space.app.url).open()
    issued = len(space.idp.issued)
    chat.page.get_by_role("button", name=SIGN_IN).click()
    chat.page.locator("#deny").click()
    chat.wait_loaded()
    assert chat.page.url.rstrip("/") == space.app.url
    expect(chat.page.get_by_role("button", name=SIGN_IN)).to_be_visible(timeout=WAIT_MS)
    assert "Sign in with Hugging Face" in chat.status()
    chat.choose_provider("Groq")
    assert chat.chat("still works").startswith("You said:")
    assert len(space.idp.issued) == issued
    assert httpx.get(space.app.url + "/config").status_code == 200


def test_sign_in_opened_in_a_tab_of_its_own_binds_to_that_tab(
    space: Space, context: BrowserContext, provider: FakeProvider
) -> None:
    """On the Hub the app is framed and sign-in opens a new tab straight at the login route, before
    that tab has the app's browser cookie: the sign-in must still bind to the browser that made it."""
    page = context.new_page()
    page.goto(space.app.url + "/login/huggingface?_target_url=/")
    page.locator("#username").fill("alice")
    page.locator("#approve").click()
    chat = ChatPage(page, space.app.url)
    chat.wait_loaded()
    expect(page.get_by_role("button", name="Logout (alice)")).to_be_visible(timeout=WAIT_MS)
    token = latest_token(space)
    assert chat.chat("from the new tab") == "You said: from the new tab"
    assert bearers(provider, token) == ["/hf/v1/chat/completions"]
    assert token not in decoded_cookies(context)


def test_a_member_bills_their_organisation(space: Space, context: BrowserContext, provider: FakeProvider) -> None:
    chat = ChatPage(context.new_page(), space.app.url).open()
    bill_to = chat.page.locator("#bill-to")
    expect(bill_to).to_be_hidden()
    sign_in(chat, "carol")
    token = latest_token(space)
    expect(bill_to).to_be_visible(timeout=WAIT_MS)
    assert chat.chat("on my own account").startswith("You said:")
    assert "x-hf-bill-to" not in provider.chat_requests[-1].headers

    bill_to.locator("input").click()
    chat.page.locator('[data-testid="dropdown-option"][aria-label="ACME Research (acme)"]').click()
    expect(chat.page.locator("#key-status")).to_contain_text(
        "billed to the organisation ACME Research", timeout=WAIT_MS
    )
    assert chat.chat("on acme").startswith("You said:")
    sent = provider.chat_requests[-1]
    assert sent.headers["x-hf-bill-to"] == "acme" and sent.authorization == f"Bearer {token}"

    # The choice stays with the sign-in across a reload; other rows know nothing of it.
    chat.reload()
    expect(bill_to.locator("input")).to_have_value("ACME Research (acme)", timeout=WAIT_MS)
    chat.choose_provider("Groq")
    expect(bill_to).to_be_hidden(timeout=WAIT_MS)
    chat.chat("on the server key")
    assert "x-hf-bill-to" not in provider.chat_requests[-1].headers


def test_on_the_hub_page_sign_in_opens_a_tab_that_chats_on_the_visitors_account(
    space: Space, context: BrowserContext, provider: FakeProvider
) -> None:
    """The Hub shows the app in a cross-site frame; sign-in opens a tab of its own, and the token is
    bound to that tab's browser cookie: the framed copy (another cookie partition) cannot use it."""
    with space_page(space.app.url, space.top_port) as top:
        page = context.new_page()
        page.goto(top)
        frame = page.frame_locator("#space")
        expect(frame.get_by_role("button", name=SIGN_IN)).to_be_visible(timeout=WAIT_MS)
        with context.expect_page(timeout=WAIT_MS) as opened:
            frame.get_by_role("button", name=SIGN_IN).click()
        tab = ChatPage(opened.value, space.app.url)
        approve(tab, "alice")
        token = latest_token(space)
        assert tab.chat("from the tab") == "You said: from the tab"
        assert bearers(provider, token) == ["/hf/v1/chat/completions"]
        # The framed copy still offers sign-in, and its chats never carry the tab's token.
        expect(frame.get_by_role("button", name=SIGN_IN)).to_be_visible()
        frame.locator('textarea[data-testid="textbox"].no-label').fill("from the frame")
        frame.locator('button[data-testid="submit-button"]').click()
        expect(frame.locator('[data-testid="bot"]').last).to_contain_text("Sign in", timeout=WAIT_MS)
        assert bearers(provider, token) == ["/hf/v1/chat/completions"]
