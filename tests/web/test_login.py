"""Hugging Face login, the whole round trip, in Chromium.

The app runs the way a Space runs it: from a fresh `pip install -r requirements.txt`, in a copy of
the git-tracked files, with `SYSTEM=spaces`, `SPACE_ID` and the `OAUTH_*` variables a Space with
`hf_oauth: true` gets. `OPENID_PROVIDER_URL` points at tests/oidc_provider.py on loopback, which
signs ID tokens like the Hub, organisations included. A person clicks "Sign in with Hugging Face",
types a user name on the provider's page, comes back, chats, and logs out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_helpers import VIEWPORT, WAIT_MS, ChatPage, decoded_cookies
from tests.conftest import canary, free_port, routed_env
from tests.deploy_helpers import AppProcess, base_environment, run_app
from tests.fake_provider import FakeProvider
from tests.hub_login import SIGN_IN, approve, frame_friendly_chromium, sign_in, space_page
from tests.oidc_provider import HubUser, OpenIDProvider

pytestmark = pytest.mark.browser

SERVER_KEY = canary("login-server")
USERS = {
    "alice": HubUser("alice"),  # on ALLOWED_HF_USERS
    # Member of an organisation whose display name is "acme" but whose handle is not: not allowed.
    "bob": HubUser("bob", orgs=(("bobs-lab", "acme"),)),
    "carol": HubUser("carol", orgs=(("acme", "ACME Research"), ("knitting", "Knitting Club"))),
}
MODEL = "llama-3.3-70b-versatile"


@dataclass
class SpaceWithLogin:
    app: AppProcess
    idp: OpenIDProvider
    # Where the frame test serves its stand-in for the Hub's Space page (a FRAME_ANCESTORS origin).
    top_port: int


@pytest.fixture(scope="module")
def space(
    deployed_python: Path, tracked_copy: Path, fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpaceWithLogin]:
    idp = OpenIDProvider(users=USERS).start()
    port, top_port = free_port(), free_port()
    env = base_environment(
        tmp_path_factory.mktemp("login-home"),
        SYSTEM="spaces",
        SPACE_ID="tester/byok-chat",
        **idp.space_environment(),
        **routed_env(
            fake,
            GROQ_API_KEY=SERVER_KEY,
            DEFAULT_PROVIDER="groq",
            DEFAULT_MODEL=MODEL,
            ALLOWED_HF_USERS="alice",
            ALLOWED_HF_ORGS="acme",
            RATE_LIMIT="3/minute",
            FRAME_ANCESTORS=f"http://localhost:{top_port}",
        ),
        GRADIO_SERVER_PORT=str(port),
    )
    try:
        with run_app(deployed_python, tracked_copy, env, port=port) as app:
            yield SpaceWithLogin(app=app, idp=idp, top_port=top_port)
            log = app.log()
        assert SERVER_KEY not in log and idp.client_secret not in log
    finally:
        idp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with frame_friendly_chromium() as chromium:
        yield chromium


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT)
    yield ctx
    ctx.close()


def login_button(page: Page):
    return page.get_by_role("button", name=SIGN_IN)


def sign_out(chat: ChatPage, username: str) -> None:
    chat.page.get_by_role("button", name=f"Logout ({username})").click()
    expect(login_button(chat.page)).to_be_visible(timeout=WAIT_MS)
    chat.wait_loaded()


def server_key_requests(fake: FakeProvider) -> int:
    return sum(r.authorization == f"Bearer {SERVER_KEY}" for r in fake.chat_requests)


def test_allowed_user_org_member_and_stranger(
    space: SpaceWithLogin, context: BrowserContext, provider: FakeProvider
) -> None:
    chat = ChatPage(context.new_page(), space.app.url).open()

    # Not signed in: the server key is not for strangers, and the page says why.
    expect(login_button(chat.page)).to_be_visible(timeout=WAIT_MS)
    expect(chat.key_box).to_be_visible()
    assert "Sign in with an allowed account" in chat.status()

    # alice is on ALLOWED_HF_USERS: the key box goes away and the server key answers.
    sign_in(chat, "alice")
    expect(chat.key_box).to_be_hidden(timeout=WAIT_MS)
    assert "uses the server's key" in chat.status()
    assert "You said: hello from alice" in chat.chat("hello from alice")
    assert server_key_requests(provider) == 1
    sign_out(chat, "alice")
    expect(chat.key_box).to_be_visible(timeout=WAIT_MS)

    # bob belongs to an organisation *named* acme, but its handle is bobs-lab: own-key mode only,
    # with the reason on the page and in the chat.
    sign_in(chat, "bob")
    expect(chat.key_box).to_be_visible(timeout=WAIT_MS)
    assert "Sign in with an allowed account" in chat.status()
    refusal = chat.chat("may I use your key?")
    assert "allowed account" in refusal and "your own Groq key" in refusal
    assert server_key_requests(provider) == 1
    bobs_key = canary("bob")
    chat.enter_key(bobs_key)
    # The refused turn stays in the history, so the echo repeats both of bob's messages.
    assert chat.chat("with my own key").endswith("with my own key")
    assert provider.chat_requests[-1].authorization == f"Bearer {bobs_key}"
    sign_out(chat, "bob")

    # carol is a member of acme (by handle), as the Hub's userinfo lists it: server key.
    sign_in(chat, "carol")
    expect(chat.key_box).to_be_hidden(timeout=WAIT_MS)
    assert "You said: hello from carol" in chat.chat("hello from carol")
    assert server_key_requests(provider) == 2
    # Every login's token stayed out of Gradio's login cookie, which anyone holding it can decode.
    cookies = decoded_cookies(context)
    assert '"preferred_username": "carol"' in cookies
    assert space.idp.issued and not [token for token in space.idp.issued if token in cookies]
    sign_out(chat, "carol")
    assert space.idp.token_requests == 3


def test_quota_follows_the_signed_in_user_across_browsers(
    space: SpaceWithLogin, browser: Browser, provider: FakeProvider
) -> None:
    """RATE_LIMIT=3/minute counts per Hugging Face user: a second browser signed in as the same user
    shares the count, another user has their own."""
    first = browser.new_context(viewport=VIEWPORT)
    second = browser.new_context(viewport=VIEWPORT)
    try:
        one = ChatPage(first.new_page(), space.app.url).open()
        sign_in(one, "carol")
        # carol may have chats left over from the other test in this minute; use up the rest.
        for turn in range(3):
            if "used up" in one.chat(f"turn {turn}"):
                break
        assert "used up your requests (3 per minute)" in one.chat("one more")

        two = ChatPage(second.new_page(), space.app.url).open()
        sign_in(two, "carol")
        assert "used up your requests" in two.chat("from another browser")
        sign_out(two, "carol")
        sign_in(two, "alice")
        assert "You said: alice has her own count" in two.chat("alice has her own count")
    finally:
        first.close()
        second.close()


def test_login_inside_the_space_page_frame_opens_at_top_level(
    space: SpaceWithLogin, context: BrowserContext, provider: FakeProvider
) -> None:
    """On the Hub the app is a cross-site frame, where the login's cookie (SameSite=None, not
    Partitioned) is dropped: the sign-in must happen outside the frame, in a tab of its own."""
    with space_page(space.app.url, space.top_port) as top:
        page = context.new_page()
        page.goto(top)
        frame = page.frame_locator("#space")
        button = frame.get_by_role("button", name=SIGN_IN)
        expect(button).to_be_visible(timeout=WAIT_MS)
        with context.expect_page(timeout=WAIT_MS) as opened:
            button.click()
        tab = ChatPage(opened.value, space.app.url)
        approve(tab, "alice")
        assert "You said: signed in at top level" in tab.chat("signed in at top level")
        # The framed copy stayed where it was and still offers the sign-in.
        expect(frame.get_by_role("button", name=SIGN_IN)).to_be_visible()
