"""The browser boundary over raw HTTP: session binding, origins, refused routes and headers.

The browser-side attacks (an evil page, a hijacked tab, a hostile reply, a framed Space) run in
Chromium in tests/ui/test_browser_boundary.py; these are the same rules as any script sees them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx
import pytest

from config.network import TrustedProxies, normalise_origin
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider
from tests.gradio_raw import Visit, open_page
from web.bindings import Claim, SessionBindings
from web.boundary import BoundaryPolicy

SERVER_KEY = canary("boundary-server")
HTML = {"accept": "text/html", "sec-fetch-mode": "navigate", "sec-fetch-site": "none"}


def chat_as(visit: Visit | str, running: RunningApp, provider_id: str = "groq", **headers: str) -> raw.EventResult:
    cfg = raw.config(running.url)
    session_hash = visit.session_hash if isinstance(visit, Visit) else visit
    own = visit.headers if isinstance(visit, Visit) else {}
    return raw.run_event(
        running.url,
        raw.fn_index(cfg, "chat"),
        raw.chat_data(cfg, "hello", provider_id, "m"),
        session_hash=session_hash,
        headers={**own, **headers},
    )


def capture_as(visit: Visit, running: RunningApp, key: str, provider_id: str = "groq") -> raw.EventResult:
    cfg = raw.config(running.url)
    inputs = [provider_id, None, None, key]
    return raw.run_event(
        running.url, raw.fn_index(cfg, "capture_key"), inputs, session_hash=visit.session_hash, headers=visit.headers
    )


# --- pure pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Example.com", "https://example.com"),
        ("https://example.com:443/", "https://example.com"),
        ("http://127.0.0.1:7860", "http://127.0.0.1:7860"),
        ("http://[::1]:80", "http://[::1]"),
        ("null", None),
        ("file:///etc/passwd", None),
        ("https://example.com/path", None),
        ("https://user@example.com", None),
        ("https://example.com:99999", None),
    ],
)
def test_origins_are_compared_in_one_normal_form(given: str, expected: str | None) -> None:
    assert normalise_origin(given) == expected


def test_a_session_hash_belongs_to_the_first_browser_that_uses_it() -> None:
    bindings = SessionBindings()
    assert bindings.claim("h1", "browser-a") is Claim.OK
    assert bindings.claim("h1", "browser-a") is Claim.OK
    assert bindings.claim("h1", "browser-b") is Claim.TAKEN
    assert bindings.claim("h1", "") is Claim.TAKEN  # no cookie is not the owner either
    assert bindings.claim("h2", "") is Claim.OK
    assert bindings.claim("h2", "browser-a") is Claim.TAKEN


def test_a_flood_of_new_sessions_never_evicts_a_live_binding() -> None:
    bindings = SessionBindings(capacity=50, per_owner=10, per_client=30)
    assert bindings.claim("victim", "browser-v", "ip:victim") is Claim.OK
    # One browser, then one address under fresh cookies, then many addresses: each meets a cap.
    flood = [bindings.claim(f"a{i}", "browser-a", "ip:attacker") for i in range(20)]
    assert flood.count(Claim.OK) == 10 and flood[-1] is Claim.FULL
    fresh = [bindings.claim(f"c{i}", f"cookie-{i}", "ip:attacker") for i in range(40)]
    assert fresh.count(Claim.OK) == 20 and fresh[-1] is Claim.FULL
    many = [bindings.claim(f"m{i}", f"cookie-m{i}", f"ip:{i}") for i in range(40)]
    assert many.count(Claim.OK) == 50 - 31 and many[-1] is Claim.FULL
    assert len(bindings) == 50
    # The victim's session is still theirs, and still refused to the attacker.
    assert bindings.claim("victim", "browser-a", "ip:attacker") is Claim.TAKEN
    assert bindings.claim("victim", "browser-v", "ip:victim") is Claim.OK


def test_idle_bindings_make_room_again() -> None:
    now = [1000.0]
    bindings = SessionBindings(capacity=2, idle_seconds=60, clock=lambda: now[0])
    assert bindings.claim("old", "a", "ip:1") is Claim.OK
    assert bindings.claim("kept", "b", "ip:2") is Claim.OK
    assert bindings.claim("new", "c", "ip:3") is Claim.FULL
    now[0] += 45
    assert bindings.claim("kept", "b", "ip:2") is Claim.OK  # used again: alive
    now[0] += 30
    assert bindings.claim("new", "c", "ip:3") is Claim.OK  # "old" sat idle for 75 s
    assert bindings.claim("old", "attacker", "ip:9") is Claim.FULL
    assert bindings.claim("kept", "attacker", "ip:9") is Claim.TAKEN


def test_cookie_attributes_follow_what_the_browser_will_keep() -> None:
    policy = BoundaryPolicy(trusted=TrustedProxies("127.0.0.1"))

    def attributes(host: str, *, scheme: str = "http", peer: str = "203.0.113.9", **headers: str) -> str:
        scope = {"scheme": scheme, "client": (peer, 1234)}
        return policy.cookie_attributes(scope, {"host": host, **headers})

    cross_site_frame = "Secure; SameSite=None; Partitioned"
    assert cross_site_frame in attributes("127.0.0.1:7860")
    assert cross_site_frame in attributes("localhost:7860")
    assert cross_site_frame in attributes("chat.example", scheme="https")
    # Plain http on a LAN address cannot hold a Secure cookie.
    assert attributes("192.168.1.20:7860") == "Path=/; HttpOnly; SameSite=Lax"
    # Behind a TLS proxy the operator trusts, the browser sees https.
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "c.example"}
    assert cross_site_frame in attributes("app:7860", peer="127.0.0.1", **forwarded)
    # The same headers from anyone else are ignored.
    spoofed = attributes("app:7860", **forwarded)
    assert "Secure" not in spoofed


# --- session binding ------------------------------------------------------------------------


def test_a_session_hash_alone_cannot_chat_read_or_end_a_visitors_session(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    running = apps()
    victim, key = open_page(running.url), canary("victim")
    assert capture_as(victim, running, key).success
    assert chat_as(victim, running).success
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {key}"]

    stranger = open_page(running.url)  # a browser of its own, holding the victim's hash
    for headers in ({}, stranger.headers):
        joined = chat_as(victim.session_hash, running, **headers)
        assert joined.status == 403, joined.raw
        assert key not in joined.raw
        data = httpx.get(
            f"{running.url}/gradio_api/queue/data", params={"session_hash": victim.session_hash}, headers=headers
        )
        assert data.status_code == 403
        beat = httpx.get(f"{running.url}/gradio_api/heartbeat/{victim.session_hash}", headers=headers)
        assert beat.status_code == 403
        cancel = httpx.post(
            f"{running.url}/gradio_api/cancel",
            json={"session_hash": victim.session_hash, "fn_index": 0, "event_id": "x"},
            headers=headers,
        )
        assert cancel.status_code == 403
    assert len(provider.chat_requests) == 1

    # The victim's session is untouched and still theirs.
    assert chat_as(victim, running).success
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {key}"] * 2


def test_scripts_without_a_cookie_keep_working_with_the_key_header(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    running = apps()
    key = canary("script")
    session_hash = secrets.token_hex(6)
    for _ in range(2):
        assert chat_as(session_hash, running, **{"x-provider-key": key}).success
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {key}"] * 2
    # A browser cannot take over a script's session either.
    assert chat_as(session_hash, running, **open_page(running.url).headers).status == 403


# --- origins --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:1"},  # same host, another port: same-site, not same-origin
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "cors"},
        {"sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors"},
    ],
)
def test_other_origins_cannot_run_events_or_read_config(
    apps: Callable[..., RunningApp], provider: FakeProvider, headers: dict[str, str]
) -> None:
    running = apps(GROQ_API_KEY=SERVER_KEY)
    assert chat_as(secrets.token_hex(6), running, **headers).status == 403
    assert httpx.get(f"{running.url}/config", headers=headers).status_code == 403
    assert httpx.get(f"{running.url}/gradio_api/info", headers=headers).status_code == 403
    assert provider.chat_requests == []


def test_the_apps_own_origin_and_allowed_origins_are_served(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    running = apps(GROQ_API_KEY=SERVER_KEY, ALLOWED_ORIGINS="https://embed.example")
    own = {"origin": running.url, "sec-fetch-site": "same-origin"}
    assert chat_as(secrets.token_hex(6), running, **own).success
    embedded = {"origin": "https://embed.example", "sec-fetch-site": "cross-site"}
    assert chat_as(secrets.token_hex(6), running, **embedded).success
    preflight = httpx.options(
        f"{running.url}/gradio_api/queue/join",
        headers={"origin": "https://embed.example", "access-control-request-method": "POST"},
    )
    assert preflight.headers.get("access-control-allow-origin") == "https://embed.example"
    assert len(provider.chat_requests) == 2


def test_no_credentialed_cors_for_anyone_else_even_on_a_public_host_name(apps: Callable[..., RunningApp]) -> None:
    running = apps(GROQ_API_KEY=SERVER_KEY, ALLOWED_HOSTS="chat.example.org")
    # Gradio echoes any Origin with credentials once the Host is not a loopback name.
    public = {"host": "chat.example.org", "origin": "https://evil.example"}
    preflight = httpx.options(
        f"{running.url}/gradio_api/queue/join", headers={**public, "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    refused = httpx.get(f"{running.url}/config", headers=public)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    # The app's own public origin, as the browser sees it, is served.
    same = httpx.get(f"{running.url}/config", headers={"host": "chat.example.org", "origin": "http://chat.example.org"})
    assert same.status_code == 200


def test_page_navigations_from_other_sites_still_load_the_page(apps: Callable[..., RunningApp]) -> None:
    # A link from anywhere, or the Hub's frame, opens the page; frame-ancestors governs framing.
    running = apps()
    page = httpx.get(f"{running.url}/", headers={**HTML, "sec-fetch-site": "cross-site", "sec-fetch-dest": "iframe"})
    assert page.status_code == 200


# --- routes and headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/gradio_api/deep_link?session_hash=abc"),
        ("GET", "/config?deep_link=abc"),
        ("GET", "/?deep_link=abc"),
        ("GET", "/monitoring"),
        ("GET", "/monitoring/summary"),
        ("GET", "/gradio_api/run-history/records"),
        ("GET", "/gradio_api/proxy=https://example.com/"),
    ],
)
def test_unused_routes_are_refused(apps: Callable[..., RunningApp], method: str, path: str) -> None:
    running = apps()
    response = httpx.request(method, running.url + path, files={"files": ("a.txt", b"x")} if method == "POST" else None)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(("method", "path"), [("POST", "/gradio_api/upload"), ("GET", "/gradio_api/upload_progress")])
def test_uploads_are_refused_without_the_page_cookie_and_unused_when_files_are_off(
    apps: Callable[..., RunningApp], method: str, path: str
) -> None:
    """The chat takes files by default: an upload needs the browser cookie (tests/web/test_uploads.py
    has the rest). With MAX_FILES_PER_MESSAGE=0 the routes are unused and refused outright."""
    files = {"files": ("a.png", b"x")} if method == "POST" else None
    on, off = apps(), apps(MAX_FILES_PER_MESSAGE="0")
    response = httpx.request(method, on.url + path, files=files, params={"upload_id": "x"})
    assert response.status_code == 403 and "only from the app's page" in response.text
    assert httpx.request(method, off.url + path, files=files, params={"upload_id": "x"}).status_code == 404


def test_every_html_response_carries_the_policy_and_no_frame_denial(apps: Callable[..., RunningApp]) -> None:
    ungated, gated = apps(), apps(GROQ_API_KEY=SERVER_KEY, ACCESS_CODE="boundary-code-123")
    for running in (ungated, gated):
        page = httpx.get(f"{running.url}/", headers=HTML)
        csp = page.headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' data: blob:",
            "connect-src 'self'",
            "form-action 'self'",
            "object-src 'none'",
            "frame-ancestors 'self'",
        ):
            assert directive in csp
        assert "x-frame-options" not in page.headers
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] in {"no-referrer", "same-origin"}
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-byok_browser=") and "HttpOnly" in cookie and "Partitioned" in cookie
        assert "; Secure;" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert "access code" in httpx.get(f"{gated.url}/", headers=HTML).text


def test_on_a_space_the_hub_may_frame_the_app_and_its_own_origin_is_allowed(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    running = apps(SPACE_ID="owner/chat", SPACE_HOST="owner-chat.hf.space", FRAME_ANCESTORS="https://docs.example")
    csp = httpx.get(f"{running.url}/", headers=HTML).headers["content-security-policy"]
    assert "frame-ancestors 'self' https://huggingface.co https://docs.example" in csp
    # The Hub's proxy talks plain http to the app; the browser's origin is the Space's https one.
    headers = {"host": "owner-chat.hf.space", "origin": "https://owner-chat.hf.space", "sec-fetch-site": "same-origin"}
    assert chat_as(secrets.token_hex(6), running, **headers, **{"x-provider-key": canary("space")}).success
    page = httpx.get(f"{running.url}/", headers={**HTML, "host": "owner-chat.hf.space"})
    assert "Secure; SameSite=None; Partitioned" in page.headers["set-cookie"]


def test_a_visitor_endpoint_key_goes_only_to_the_url_it_was_typed_for(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    running = apps(ALLOW_CUSTOM_BASE_URL="true", ALLOW_LOCAL_BASE_URL="true")
    visit, key = open_page(running.url), canary("endpoint")
    first_url = f"http://127.0.0.1:{provider.port}/mine/v1"
    cfg = raw.config(running.url)
    captured = raw.run_event(
        running.url,
        raw.fn_index(cfg, "capture_key"),
        ["endpoint", None, first_url, key],
        session_hash=visit.session_hash,
        headers=visit.headers,
    )
    assert captured.success, captured.raw

    def chat_to(url: str) -> raw.EventResult:
        data = [*raw.chat_data(cfg, "hello", "endpoint", "m")[:-1], None, url]
        return raw.run_event(
            running.url, raw.fn_index(cfg, "chat"), data, session_hash=visit.session_hash, headers=visit.headers
        )

    assert chat_to(first_url).success
    moved = chat_to(f"http://127.0.0.1:{provider.port}/elsewhere/v1")
    assert not moved.success and moved.completed and moved.completed.get("title") == "API key needed"
    assert [(r.path, r.authorization) for r in provider.chat_requests] == [
        ("/mine/v1/chat/completions", f"Bearer {key}")
    ]


def test_a_host_name_pointed_at_the_server_is_refused_unless_the_operator_named_it(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    """DNS rebinding: attacker.example resolves to this server, so its page is same-origin with
    the app. Only loopback names, addresses, the Space's host and ALLOWED_HOSTS are answered."""
    running = apps(GROQ_API_KEY=SERVER_KEY)
    rebound = {"host": "attacker.example", "origin": "http://attacker.example"}
    assert httpx.get(f"{running.url}/", headers={**HTML, **rebound}).status_code == 400
    assert httpx.get(f"{running.url}/config", headers=rebound).status_code == 400
    cfg = raw.config(running.url)
    chat = raw.run_event(
        running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, "hello", "groq", "m"), headers=rebound
    )
    assert chat.status == 400 and not provider.chat_requests
    port = running.url.rsplit(":", 1)[1]
    for host in ("localhost", "app.localhost", "127.0.0.1", "[::1]", "192.0.2.10"):
        assert httpx.get(f"{running.url}/config", headers={"host": f"{host}:{port}"}).status_code == 200, host
    named = apps(GROQ_API_KEY=SERVER_KEY, ALLOWED_HOSTS="chat.example.org")
    assert httpx.get(f"{named.url}/config", headers={"host": "chat.example.org"}).status_code == 200
    assert httpx.get(f"{named.url}/config", headers={"host": "attacker.example"}).status_code == 400
    anything = apps(GROQ_API_KEY=SERVER_KEY, ALLOWED_HOSTS="*")
    assert httpx.get(f"{anything.url}/config", headers={"host": "attacker.example"}).status_code == 200


def test_a_planted_or_doubled_browser_cookie_opens_nothing(apps: Callable[..., RunningApp]) -> None:
    """A sibling subdomain can set byok_browser for the app's host, never __Host-byok_browser."""
    running = apps(GROQ_API_KEY=SERVER_KEY)
    alice = open_page(running.url)
    assert alice.cookie.startswith("__Host-byok_browser=")
    value = alice.cookie.split("=", 1)[1]
    assert _cancel_as(running, alice.session_hash, alice.cookie) == 200
    # The planted, unprefixed name is not the app's cookie: it owns nothing here.
    assert _cancel_as(running, alice.session_hash, f"byok_browser={value}") == 403
    # Two copies of the app's cookie are refused outright.
    doubled = f"{alice.cookie}; __Host-byok_browser={'x' * 32}"
    assert _cancel_as(running, alice.session_hash, doubled) == 400
    # On plain http to a LAN address the cookie cannot be Secure, so it keeps its plain name.
    port = running.url.rsplit(":", 1)[1]
    lan = httpx.get(f"{running.url}/", headers={**HTML, "host": f"192.0.2.10:{port}"})
    assert lan.headers["set-cookie"].startswith("byok_browser=") and "SameSite=Lax" in lan.headers["set-cookie"]


def _cancel_as(running: RunningApp, session_hash: str, cookie: str) -> int:
    body = {"session_hash": session_hash, "fn_index": 0, "event_id": "none"}
    return httpx.post(f"{running.url}/gradio_api/cancel", json=body, headers={"cookie": cookie}).status_code
