"""A visitor-chosen base URL: off by default, visitor keys only, and never a way into the server's
own network. Every target here is loopback or refused before a connection is made."""

from __future__ import annotations

from collections.abc import Callable

from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider


def _endpoint_chat(running: RunningApp, base_url: str, *, model: str = "m", key: str | None = None) -> raw.EventResult:
    cfg = raw.config(running.url)
    data = [*raw.chat_data(cfg, "hello", "endpoint", model), base_url]
    headers = {"x-provider-key": key} if key else {}
    return raw.run_event(running.url, raw.fn_index(cfg, "chat"), data, headers=headers)


def test_off_by_default(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for())
    cfg = raw.config(running.url)
    assert "endpoint" not in str([c.get("props", {}).get("choices") for c in cfg["components"]])
    assert "endpoint-url" not in str(cfg["components"])
    data = [*raw.chat_data(cfg, "hi", "endpoint", "m"), f"http://127.0.0.1:{provider.port}/v1"]
    result = raw.run_event(running.url, raw.fn_index(cfg, "chat"), data, headers={"x-provider-key": canary("v")})
    assert not result.success
    assert provider.requests == []


def test_only_the_visitors_key_travels_to_their_url(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    server_key, visitor_key = canary("server"), canary("visitor")
    running = launch(settings_for(OPENAI_API_KEY=server_key, ALLOW_CUSTOM_BASE_URL="true", ALLOW_LOCAL_BASE_URL="true"))
    own_url = f"http://127.0.0.1:{provider.port}/visitor/v1"

    without_key = _endpoint_chat(running, own_url)
    assert not without_key.success and "API key" in (without_key.error or "")
    assert provider.chat_requests == []

    with_key = _endpoint_chat(running, own_url, key=visitor_key)
    assert with_key.success
    assert [(r.path, r.authorization) for r in provider.chat_requests] == [
        ("/visitor/v1/chat/completions", f"Bearer {visitor_key}")
    ]
    assert all(server_key not in str(r.headers) + str(r.body) for r in provider.requests)


def test_redirects_are_never_followed(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(ALLOW_CUSTOM_BASE_URL="true", ALLOW_LOCAL_BASE_URL="true"))
    result = _endpoint_chat(running, f"http://127.0.0.1:{provider.port}/visitor/v1", model="redirect", key=canary("v"))
    assert not result.success
    assert [r.path for r in provider.requests] == ["/visitor/v1/chat/completions"]


REFUSED_TARGETS = [
    "http://127.0.0.1:{port}/v1",
    "http://[::1]:{port}/v1",
    "http://localhost:{port}/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/v1",
    "http://[::ffff:127.0.0.1]:{port}/v1",
    "http://2130706433:{port}/v1",
    "file:///etc/passwd",
    "ftp://127.0.0.1/v1",
    "http://user:pass@127.0.0.1:{port}/v1",
]


def test_local_and_private_targets_are_refused(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(ALLOW_CUSTOM_BASE_URL="true"))
    for target in REFUSED_TARGETS:
        result = _endpoint_chat(running, target.format(port=provider.port), key=canary("visitor"))
        message = result.error or ""
        assert not result.success and message, target
        assert "127.0.0.1" not in message and "169.254" not in message, target
    assert provider.requests == []


def test_a_redirect_from_a_configured_provider_is_not_followed_either(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    server_key = canary("server")
    running = launch(settings_for(GROQ_API_KEY=server_key))
    cfg = raw.config(running.url)
    result = raw.run_event(running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, "hi", "groq", "redirect"))
    assert not result.success
    assert [r.path for r in provider.requests] == ["/groq/v1/chat/completions"]
