"""Hugging Face sign-in that pays for the visitor's own chats: where it is on, where its token is
kept (the server, under the browser's cookie; never Gradio's session cookie), when it is gone, and
what the page and --check say about it. Which chats it pays for is
tests/conversation/test_hub_sign_in.py; the whole round trip in Chromium is
tests/web/test_signin_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from config.keys import HubSignIn
from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.service import ChatService
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider
from web.boundary import BROWSER_OWNER_KEY
from web.hflogin import login_plan
from web.signin import SignInCustody, SignInTokens

SPACE = {
    "SYSTEM": "spaces",
    "SPACE_ID": "tester/byok-chat",
    "OAUTH_CLIENT_ID": "client",
    "OAUTH_CLIENT_SECRET": "secret",
    "OPENID_PROVIDER_URL": "https://huggingface.co",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# --- where the mode is on ---------------------------------------------------------------------


def test_on_a_space_granting_inference_api_the_mode_is_on_with_no_other_setting(
    settings_for: Callable[..., Settings],
) -> None:
    plan = login_plan(settings_for(), {**SPACE, "OAUTH_SCOPES": "openid profile inference-api"})
    assert plan.hub_sign_in and plan.button and not plan.wanted
    assert "own account" in plan.note
    # settings_for routes every row to the fake provider: the operator is told where tokens go.
    assert "their tokens go to http://127.0.0.1:" in plan.note and "HF_BASE_URL" in plan.note
    assert (
        "tokens go to"
        not in login_plan(load_settings({}, dotenv_path=None), {**SPACE, "OAUTH_SCOPES": "inference-api"}).note
    )


@pytest.mark.parametrize(
    "environ",
    [
        {**SPACE, "OAUTH_SCOPES": "openid profile"},  # login without the scope
        {**SPACE, "SYSTEM": "", "OAUTH_SCOPES": "openid profile inference-api"},  # not a Space
        {"OAUTH_SCOPES": "inference-api"},  # a developer's shell
    ],
)
def test_without_the_scope_or_off_a_space_the_mode_is_absent(
    settings_for: Callable[..., Settings], environ: dict[str, str]
) -> None:
    plan = login_plan(settings_for(), environ)
    assert not plan.hub_sign_in and not plan.button


# --- the store ---------------------------------------------------------------------------------


def store() -> tuple[SignInTokens, Clock, Clock]:
    wall, clock = Clock(), Clock()
    return SignInTokens(grace_seconds=60, wall=wall, clock=clock), wall, clock


def test_a_token_is_given_only_to_the_browser_and_user_that_signed_in() -> None:
    tokens, wall, _ = store()
    token = Secret(canary("hub"))
    tokens.keep("browser-a", token, username="alice", expires_at=wall.now + 3600)
    assert tokens.sign_in("browser-a", "Alice", "s1").token is token
    assert tokens.sign_in("browser-b", "alice", "s2").token is None  # another browser
    assert tokens.sign_in("", "alice", "s3").token is None  # no cookie
    assert tokens.sign_in("browser-a", "bob", "s1").token is None  # signed in as someone else now
    assert tokens.sign_in("browser-a", None, "s1").token is None  # signed out in Gradio's cookie


def test_expired_and_refused_tokens_are_gone_and_the_page_can_say_sign_in_again() -> None:
    tokens, wall, _ = store()
    tokens.keep("a", Secret(canary("a")), username="alice", expires_at=wall.now + 10)
    tokens.keep("b", Secret(canary("b")), username="bob", expires_at=wall.now + 3600)
    wall.now += 11
    assert tokens.sign_in("a", "alice", "s") == HubSignIn(username="alice", ended=True)
    tokens.refused("b")
    assert tokens.sign_in("b", "bob", "s") == HubSignIn(username="bob", ended=True)
    assert len(tokens) == 0
    # Signing out is deliberate: afterwards the page just offers sign-in.
    tokens.forget("b")
    assert not tokens.sign_in("b", "bob", "s").ended


def test_a_token_outlives_a_reload_but_not_the_last_page_of_its_browser() -> None:
    tokens, wall, clock = store()
    tokens.keep("a", Secret(canary("a")), username="alice", expires_at=wall.now + 3600)
    # The page the sign-in returns to picks it up; a reload ends that session and starts another.
    assert tokens.sign_in("a", "alice", "first").token is not None
    tokens.end_session("first")
    clock.now += 5
    assert tokens.sign_in("a", "alice", "second").token is not None
    clock.now += 120
    assert tokens.sign_in("a", "alice", "second").token is not None  # still open: kept
    tokens.end_session("second")
    clock.now += 59
    assert len(tokens) == 1
    clock.now += 2
    assert len(tokens) == 0
    assert tokens.sign_in("a", "alice", "third") == HubSignIn(username="alice")


def test_one_browser_cannot_grow_the_store_without_bound() -> None:
    tokens, wall, clock = store()
    tokens.keep("a", Secret(canary("a")), username="alice", expires_at=wall.now + 3600)
    for page in range(500):
        assert tokens.sign_in("a", "alice", f"page-{page}").token is not None
    # Only the first hundred pages keep the token alive; when they have closed, it goes.
    for page in range(100):
        tokens.end_session(f"page-{page}")
    clock.now += 61
    assert len(tokens) == 0


def test_a_sign_in_no_page_picks_up_is_dropped_after_the_grace() -> None:
    tokens, wall, clock = store()
    tokens.keep("a", Secret(canary("a")), username="alice", expires_at=wall.now + 3600)
    clock.now += 61
    assert len(tokens) == 0


# --- custody: Gradio's cookie never carries a token ----------------------------------------------


OAUTH_INFO = {
    "token_type": "bearer",
    "expires_in": 3600,
    "scope": "openid profile inference-api",
    "userinfo": {"preferred_username": "Alice", "orgs": []},
}


def custody_app(tokens: SignInTokens | None, access_token: str, *, fail: bool = False) -> Starlette:
    """Gradio's login routes in miniature: the callback stores the whole login in the session."""

    async def callback(request: Request) -> RedirectResponse:
        if fail:
            raise RuntimeError(f"token exchange failed for {access_token}")
        request.session["oauth_info"] = {
            **OAUTH_INFO,
            "access_token": access_token,
            "id_token": "eyJ.id.token",
            "refresh_token": "hf_refresh_" + access_token,
            "expires_at": 4_000_000_000,
        }
        return RedirectResponse("/")

    async def logout(request: Request) -> RedirectResponse:
        request.session.pop("oauth_info", None)
        return RedirectResponse("/")

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("page")

    class NameTheBrowser:  # what web/boundary.py does in front of everything
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            cookie = dict(h.split("=", 1) for h in _cookie_header(scope).split("; ") if "=" in h)
            scope.setdefault("state", {})[BROWSER_OWNER_KEY] = cookie.get("byok_browser", "")
            await self.app(scope, receive, send)

    return Starlette(
        routes=[Route("/login/callback", callback), Route("/logout", logout), Route("/", page)],
        middleware=[
            Middleware(SessionMiddleware, secret_key="k", same_site="none", https_only=True),
            Middleware(NameTheBrowser),
            Middleware(SignInCustody, tokens=tokens),
        ],
    )


def _cookie_header(scope: Any) -> str:
    return next((v.decode() for k, v in scope.get("headers", []) if k == b"cookie"), "")


def decoded_session(client: TestClient) -> dict[str, Any]:
    """Starlette's session cookie is base64 JSON, then a timestamp and a signature: readable by anyone."""
    raw = client.cookies.get("session")
    assert raw, "no session cookie"
    data = raw.split(".")[0]
    return json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))


def run_client(app: Starlette) -> TestClient:
    client = TestClient(app, base_url="https://app.test", follow_redirects=False)
    client.cookies.set("byok_browser", "browser-a")
    return client


def test_the_login_cookie_names_the_visitor_but_carries_no_token(provider: FakeProvider) -> None:
    token = canary("oauth")
    tokens = SignInTokens()
    with run_client(custody_app(tokens, token)) as client:
        client.get("/login/callback?code=x&state=y")
        stored = decoded_session(client)
        assert stored["oauth_info"]["userinfo"]["preferred_username"] == "Alice"
        assert not {"access_token", "id_token", "refresh_token"} & stored["oauth_info"].keys()
        assert token not in json.dumps(stored) and "hf_refresh_" not in json.dumps(stored)
        assert tokens.sign_in("browser-a", "alice", "s").token == Secret(token)
        # Signing out forgets it on the server too.
        client.get("/logout")
        assert tokens.sign_in("browser-a", "alice", "s").token is None


def test_an_allow_list_login_keeps_no_token_at_all() -> None:
    token = canary("oauth")
    with run_client(custody_app(None, token)) as client:
        client.get("/login/callback?code=x&state=y")
        assert token not in json.dumps(decoded_session(client))


def test_a_cancelled_or_failed_sign_in_returns_to_the_page(caplog: pytest.LogCaptureFixture) -> None:
    token = canary("oauth")
    tokens = SignInTokens()
    with run_client(custody_app(tokens, token)) as client:
        answer = client.get("/login/callback?error=access_denied&state=y")
        assert answer.status_code == 303 and answer.headers["location"] == "../"
        assert len(tokens) == 0
    with run_client(custody_app(tokens, token, fail=True)) as client:
        answer = client.get("/login/callback?code=x&state=y")
        assert answer.status_code == 303 and answer.headers["location"] == "../"
    assert token not in caplog.text and "RuntimeError" in caplog.text


def test_the_page_says_whose_account_pays() -> None:
    from ui.handlers import sign_in_status

    held = sign_in_status(HubSignIn(token=Secret(canary("t")), username="alice"))
    assert "Signed in as **alice**" in held and "alice's own Hugging Face account, which pays" in held
    assert "Sign in again" in sign_in_status(HubSignIn(username="alice", ended=True))
    assert "Sign in with Hugging Face" in sign_in_status(HubSignIn())
    # With the operator's HF_TOKEN usable, the row says so and offers sign-in as the alternative.
    assert sign_in_status(HubSignIn(), on_server_key=True).startswith("Runs on the server's key")


def test_closing_the_last_page_of_the_browser_forgets_its_sign_in(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., Settings],
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page's unload (Gradio ends a session when its heartbeat stream closes) reaches the store."""
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
    running = launch(settings_for())
    tokens = running.service.sign_ins = SignInTokens(grace_seconds=0.5)
    visit = raw.open_page(running.url)
    owner = hashlib.sha256(visit.cookie.split("=", 1)[1].encode()).hexdigest()
    tokens.keep(owner, Secret(canary("hub")), username="alice", expires_at=time.time() + 3600)
    # What the page's events do when they find the sign-in: this session now keeps it alive.
    assert tokens.sign_in(owner, "alice", visit.session_hash).token is not None
    stop = threading.Event()

    def heartbeat() -> None:
        url = f"{running.url}/gradio_api/heartbeat/{visit.session_hash}"
        with httpx.stream("GET", url, headers=visit.headers, timeout=30) as stream:
            for _ in stream.iter_bytes():
                if stop.is_set():
                    return

    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    time.sleep(2)
    assert len(tokens) == 1  # open page: kept past the grace
    stop.set()
    beating.join(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(tokens):
        time.sleep(0.1)
    assert len(tokens) == 0
    assert tokens.sign_in(owner, "alice", "a-later-page").token is None


def test_check_names_who_pays_on_the_hf_row(settings_for: Callable[..., Settings]) -> None:
    from startup.check import report

    plan = login_plan(settings_for(), {**SPACE, "OAUTH_SCOPES": "openid profile inference-api"})
    _, lines = report(ChatService(settings_for(), hub_sign_in=True), plan, host="127.0.0.1", port=7860, share=False)
    text = "\n".join(lines)
    assert "hf: visitors sign in with Hugging Face and pay for themselves, or bring their own key" in text
    assert "groq: visitors bring their own key" in text
    assert "visitors who sign in chat on Hugging Face Inference Providers on their own account" in text
