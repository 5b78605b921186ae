"""The access gate: every route locked, codes never logged, guessing throttled, BYO exemption."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from config.network import TrustedProxies
from config.settings import load_settings
from conversation.service import ChatService
from startup.summary import exposure_warning
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env
from tests.fake_provider import FakeProvider
from web.access import GATE_PATH
from web.asgi import client_id

CODE = "correct-horse-battery-staple"
HTML = {"accept": "text/html"}


@pytest.fixture
def gated(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> tuple[RunningApp, str]:
    server_key = canary("server")
    running = launch(settings_for(GROQ_API_KEY=server_key, ACCESS_CODE=f"another-code-1234,{CODE}"))
    return running, server_key


def test_every_route_is_locked_without_the_code(gated: tuple[RunningApp, str], provider: FakeProvider) -> None:
    running, server_key = gated
    for path in ("/", "/config", "/gradio_api/info?all_endpoints=true", "/gradio_api/app_id", "/theme.css"):
        page = httpx.get(running.url + path, headers=HTML)
        assert page.status_code == 401, path
        assert 'name="code"' in page.text and server_key not in page.text
        api = httpx.get(running.url + path)
        assert api.status_code == 401 and api.json() == {"error": "Access code required."}
    # The unlocked config tells us every event; each one, raw, without the code, is refused.
    cfg = raw.config(running.url, headers={"x-access-code": CODE})
    assert len(cfg["dependencies"]) > 20
    for dependency in cfg["dependencies"]:
        data = raw.chat_data(cfg, "hi", "groq", "m")
        result = raw.run_event(running.url, dependency["id"], data)
        assert result.status == 401, dependency["api_name"]
    for route in ("/gradio_api/run/chat", "/gradio_api/call/chat", "/gradio_api/run/predict"):
        assert httpx.post(running.url + route, json={"data": ["hi", [], "groq", "m", "", 0.5, 10]}).status_code == 401
    assert provider.chat_requests == []


def test_the_code_unlocks_the_api_and_the_page(gated: tuple[RunningApp, str], provider: FakeProvider) -> None:
    running, server_key = gated
    cfg = raw.config(running.url, headers={"x-access-code": CODE})
    result = raw.run_event(
        running.url,
        raw.fn_index(cfg, "chat"),
        raw.chat_data(cfg, "hello", "groq", "m"),
        headers={"x-access-code": CODE},
    )
    assert result.success and result.output and result.output[0] == "You said: hello"
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {server_key}"]

    with httpx.Client(base_url=running.url) as browser:
        entered = browser.post(GATE_PATH, data={"code": CODE})
        assert entered.status_code == 303
        set_cookie = entered.headers["set-cookie"]
        assert "HttpOnly" in set_cookie and CODE not in set_cookie
        # A Space shows the app in a cross-site frame: only this cookie survives there. Chromium
        # keeps Secure cookies on loopback over http, which is where this app runs.
        assert "; Secure; SameSite=None; Partitioned" in set_cookie
        # httpx, unlike a browser, sends Secure cookies only over https: send it by hand.
        cookie = {"cookie": set_cookie.split(";", 1)[0]}
        assert browser.get("/", headers={**HTML, **cookie}).status_code == 200
        assert browser.get("/config", headers=cookie).status_code == 200
        # A GET (an image in a reply, a link from anywhere) only shows the sign-out button.
        shown = browser.get("/byok/logout", headers=cookie)
        assert shown.status_code == 200 and 'method="post"' in shown.text
        assert "byok_access" not in shown.headers.get("set-cookie", "")
        assert browser.get("/config", headers=cookie).status_code == 200
        # Another site's form is refused by the boundary; the page's own form signs out.
        foreign = browser.post("/byok/logout", headers={**cookie, "origin": "https://evil.example"})
        assert foreign.status_code == 403 and browser.get("/config", headers=cookie).status_code == 200
        logout = browser.post("/byok/logout", headers={**cookie, "origin": running.url})
        assert "Max-Age=0" in logout.headers["set-cookie"]
        # Logging out revokes the cookie itself, so a copy replayed afterwards opens nothing.
        assert browser.get("/config", headers=cookie).status_code == 401


def test_the_gate_speaks_the_browsers_language_and_scripts_keep_english(gated: tuple[RunningApp, str]) -> None:
    running, _ = gated
    page = httpx.get(running.url + "/", headers={**HTML, "accept-language": "de-DE,de;q=0.9,en;q=0.8"})
    assert page.status_code == 401
    assert '<html lang="de">' in page.text and 'placeholder="Zugangscode"' in page.text
    assert "Geben Sie den Zugangscode ein, den Sie erhalten haben." in page.text
    assert "access code you were given" not in page.text
    wrong = httpx.post(running.url + GATE_PATH, data={"code": "wrong-code-ja"}, headers={"accept-language": "ja"})
    assert wrong.status_code == 401 and "コードが正しくありません。" in wrong.text
    assert httpx.get(running.url + "/config").json() == {"error": "Access code required."}
    french = httpx.get(running.url + "/config", headers={"accept-language": "fr-CA"})
    assert french.json() == {"error": "Code d'accès requis."}


def test_a_forged_cookie_is_refused(gated: tuple[RunningApp, str]) -> None:
    running, _ = gated
    for forged in ("9999999999.deadbeef", "1.abc", "garbage", ""):
        response = httpx.get(running.url + "/config", cookies={"byok_access": forged})
        assert response.status_code == 401


def test_guessing_is_throttled_per_client_even_with_the_right_code(gated: tuple[RunningApp, str]) -> None:
    running, _ = gated
    statuses = [httpx.post(running.url + GATE_PATH, data={"code": f"guess-{i}"}).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = httpx.post(running.url + GATE_PATH, data={"code": CODE})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert "Too many wrong codes" in locked.text
    # A header guess is the same guess, and a forged X-Forwarded-For is not another client.
    spoofed = httpx.get(running.url + "/config", headers={"x-access-code": CODE, "x-forwarded-for": "203.0.113.9"})
    assert spoofed.status_code == 429


def test_trusted_proxy_tells_clients_apart(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object]
) -> None:
    running = launch(settings_for(ACCESS_CODE=CODE, TRUSTED_PROXIES="127.0.0.1"))
    for i in range(5):
        httpx.post(running.url + GATE_PATH, data={"code": f"bad-{i}"}, headers={"x-forwarded-for": "198.51.100.1"})
    assert (
        httpx.post(
            running.url + GATE_PATH, data={"code": "bad"}, headers={"x-forwarded-for": "198.51.100.1"}
        ).status_code
        == 429
    )
    other = httpx.post(running.url + GATE_PATH, data={"code": CODE}, headers={"x-forwarded-for": "198.51.100.2"})
    assert other.status_code == 303


def test_codes_are_never_logged(
    gated: tuple[RunningApp, str], caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    running, _ = gated
    caplog.set_level(logging.DEBUG)
    httpx.post(running.url + GATE_PATH, data={"code": CODE})
    httpx.get(running.url + "/config", headers={"x-access-code": CODE})
    httpx.post(running.url + GATE_PATH, data={"code": "wrong-code-xyz"})
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "wrong access code" in logged
    assert CODE not in logged and "wrong-code-xyz" not in logged


def test_byo_exempt_visitors_never_reach_the_server_key(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    server_key, visitor_key = canary("server"), canary("visitor")
    running = launch(settings_for(GROQ_API_KEY=server_key, ACCESS_CODE=CODE, ACCESS_CODE_BYO_EXEMPT="true"))
    assert httpx.get(running.url + "/", headers=HTML).status_code == 200
    cfg = raw.config(running.url)
    chat = raw.fn_index(cfg, "chat")

    refused = raw.run_event(running.url, chat, raw.chat_data(cfg, "hi", "groq", "m"))
    assert not refused.success and "needs the access code" in (refused.error or "")
    # A script is told which headers to send; the page, where to enter the code or its own key.
    assert "X-Access-Code header" in (refused.error or "") and "X-Provider-Key header" in (refused.error or "")
    assert provider.chat_requests == []

    own_key = raw.run_event(
        running.url, chat, raw.chat_data(cfg, "hi", "groq", "m"), headers={"x-provider-key": visitor_key}
    )
    assert own_key.success
    # A wrong code does not turn into a server key either.
    wrong_code = raw.run_event(
        running.url, chat, raw.chat_data(cfg, "hi", "groq", "m"), headers={"x-access-code": "not-the-code"}
    )
    assert not wrong_code.success
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {visitor_key}"]


def test_exempt_is_off_by_default() -> None:
    settings = load_settings({"ACCESS_CODE": CODE}, dotenv_path=None)
    assert not settings.access_code_byo_exempt


def test_short_codes_are_refused_at_start_up() -> None:
    with pytest.raises(Exception, match="ACCESS_CODE"):
        load_settings({"ACCESS_CODE": "1234"}, dotenv_path=None)


def test_hugging_face_allow_list(fake: FakeProvider) -> None:
    service = ChatService(
        load_settings(
            routed_env(fake, GROQ_API_KEY=canary("server"), ALLOWED_HF_USERS="Alice", ALLOWED_HF_ORGS="acme"),
            dotenv_path=None,
        )
    )

    def login(user: str, *orgs: str) -> dict[str, object]:
        return {"userinfo": {"preferred_username": user, "orgs": [{"preferred_username": o} for o in orgs]}}

    allowed = service.may_use_server_keys
    assert allowed(gate_passed=False, oauth_info=login("alice"))
    assert allowed(gate_passed=False, oauth_info=login("bob", "acme"))
    assert not allowed(gate_passed=False, oauth_info=login("bob", "other"))
    assert not allowed(gate_passed=False, oauth_info=None)
    caller = service.caller(
        peer="127.0.0.1", headers={}, gate_passed=False, oauth_info=login("Alice"), visitor_key=None
    )
    assert caller.client == "user:alice"


def test_client_identity_trusts_forwarded_headers_only_from_listed_proxies() -> None:
    spoofed = {"x-forwarded-for": "203.0.113.5"}
    assert client_id("127.0.0.1", spoofed, TrustedProxies("")) == "ip:127.0.0.1"
    assert client_id("127.0.0.1", spoofed, TrustedProxies("127.0.0.1")) == "ip:203.0.113.5"
    # The client can prepend anything; the hop our proxy added is the one that counts.
    chain = {"x-forwarded-for": "1.2.3.4, 203.0.113.5, 10.0.0.2"}
    assert client_id("10.0.0.1", chain, TrustedProxies("10.0.0.0/8")) == "ip:203.0.113.5"
    assert client_id("10.0.0.1", chain, TrustedProxies("*")) == "ip:10.0.0.2"
    assert client_id("10.0.0.1", chain, TrustedProxies("*"), username="bob") == "user:bob"


def test_exposure_warning(fake: FakeProvider) -> None:
    open_settings = load_settings(routed_env(fake, GROQ_API_KEY=canary("server")), dotenv_path=None)
    assert exposure_warning(open_settings, host="127.0.0.1") is None
    warning = exposure_warning(open_settings, host="0.0.0.0", port=7860)
    assert warning and "GROQ_API_KEY" in warning and "ACCESS_CODE" in warning
    assert "any of its network addresses, port 7860" in warning and "share link" not in warning
    assert "the spend limits (off)" in warning and "DAILY_SPEND_LIMIT and SPEND_LIMIT to cap the bill" in warning
    assert "reach 192.0.2.7:8080" in (exposure_warning(open_settings, host="192.0.2.7", port=8080) or "")
    shared = exposure_warning(open_settings, host="127.0.0.1", share_url="https://abc.gradio.live")
    assert shared and "through the public share link https://abc.gradio.live" in shared
    gated = load_settings(routed_env(fake, GROQ_API_KEY=canary("server"), ACCESS_CODE=CODE), dotenv_path=None)
    assert exposure_warning(gated, host="0.0.0.0", share_url="https://abc.gradio.live") is None
    byo_only = load_settings({}, dotenv_path=None)
    assert exposure_warning(byo_only, host="0.0.0.0", share_url="https://abc.gradio.live") is None
    # An operator's keyless server is the operator's spend too.
    ollama = load_settings({"OLLAMA_BASE_URL": "http://10.0.0.5:11434/v1"}, dotenv_path=None)
    warned = exposure_warning(ollama, host="0.0.0.0")
    assert warned and "(OLLAMA_BASE_URL)" in warned
    assert (ollama.rate_limit, ollama.daily_token_limit) == ("10/minute;200/day", 200000)


def test_keyless_operator_servers_are_gated_and_metered_like_server_keys(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    gated = launch(settings_for(ACCESS_CODE=CODE, ACCESS_CODE_BYO_EXEMPT="true"))
    cfg = raw.config(gated.url)
    chat = raw.fn_index(cfg, "chat")
    for headers in ({}, {"x-provider-key": canary("visitor")}):
        refused = raw.run_event(gated.url, chat, raw.chat_data(cfg, "hi", "ollama", "m"), headers=headers)
        assert not refused.success and "runs on the operator's server" in (refused.error or "")
    assert provider.chat_requests == []
    allowed = raw.run_event(gated.url, chat, raw.chat_data(cfg, "hi", "ollama", "m"), headers={"x-access-code": CODE})
    assert allowed.success
    metered = launch(settings_for(RATE_LIMIT="2/minute"))
    cfg = raw.config(metered.url)
    chat = raw.fn_index(cfg, "chat")
    results = [raw.run_event(metered.url, chat, raw.chat_data(cfg, "hi", "ollama", "m")) for _ in range(3)]
    assert [r.success for r in results] == [True, True, False]
    assert "2 per minute" in (results[-1].error or "")
