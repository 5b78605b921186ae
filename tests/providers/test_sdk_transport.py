"""The openai SDK as the chat transport: what it may take from the environment (nothing), how much
of an error body it may read (the pool's cap), and that the URL guard's refusal still reaches the
visitor through it. Real HTTP against the fake provider; the SDK is never mocked."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tracemalloc
from collections.abc import Iterator

import pytest

from config.secret import Secret
from errors import InputRejected, ProviderError, ProviderUnavailable
from providers import PROVIDERS, VISITOR_ENDPOINT, ChatRequest, ChatStream, Provider, close_pools
from providers.pool import MAX_ERROR_BODY
from providers.urlguard import BlockedAddress
from tests.conftest import canary
from tests.fake_provider import FakeProvider

ROWS = {p.id: p for p in PROVIDERS}


@pytest.fixture
def elsewhere() -> Iterator[FakeProvider]:
    """A second provider, where OPENAI_BASE_URL points: nothing may ever arrive there."""
    fake = FakeProvider().start()
    yield fake
    fake.stop()


def request_to(
    provider: FakeProvider, model: str, *, row: str = "groq", visitor: bool = False, allow_local: bool = True
) -> ChatRequest:
    """A chat for ``row`` pointed at the fake under /<row>/v1, as the operator would configure it;
    with ``visitor``, the same address typed by a visitor (the URL guard's path)."""
    url = f"http://127.0.0.1:{provider.port}/{row}/v1"
    chosen: Provider = VISITOR_ENDPOINT if visitor else dataclasses.replace(ROWS[row], base_url=url)
    return ChatRequest(
        provider=chosen,
        model=model,
        messages=({"role": "user", "content": "hello there"},),
        temperature=None,
        max_tokens=20,
        visitor_base_url=url if visitor else None,
        allow_local=allow_local,
    )


def chat(request: ChatRequest, key: str | None, timeout: float = 10.0) -> tuple[str, BaseException | None]:
    """The reply's text and the error it ended with, if any."""

    async def consume() -> tuple[str, BaseException | None]:
        text = ""
        try:
            stream = ChatStream(request, key=Secret(key) if key else None, timeout=timeout, max_retries=0)
            async for update in stream:
                text = update
        except (ProviderError, InputRejected) as error:
            return text, error
        finally:
            await close_pools()  # this event loop ends here; its pools and SDK clients go with it
        return text, None

    return asyncio.run(consume())


def test_no_openai_environment_variable_reaches_any_request(
    provider: FakeProvider, elsewhere: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    ambient = {
        "OPENAI_API_KEY": canary("env-api-key"),
        "OPENAI_ADMIN_KEY": canary("env-admin-key"),
        "OPENAI_ORG_ID": canary("env-org"),
        "OPENAI_PROJECT_ID": canary("env-project"),
        "OPENAI_WEBHOOK_SECRET": canary("env-webhook"),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{elsewhere.port}/ambient/v1",
    }
    header_canary, auth_canary = canary("env-header"), canary("env-custom-auth")
    ambient["OPENAI_CUSTOM_HEADERS"] = (
        f"X-Canary: {header_canary}\nAuthorization: Bearer {auth_canary}\nOpenAI-Organization: {header_canary}"
    )
    for name, value in ambient.items():
        monkeypatch.setenv(name, value)
    server_key, visitor_key = canary("server"), canary("visitor")

    cases = [
        (request_to(provider, "m", row="groq"), server_key),
        (request_to(provider, "m", row="openai"), visitor_key),
        (request_to(provider, "m", row="ollama"), None),  # a keyless local server
        (request_to(provider, "m", row="custom", visitor=True), visitor_key),  # through the URL guard
    ]
    for request, key in cases:
        text, error = chat(request, key)
        assert error is None and text == "You said: hello there"

    assert elsewhere.requests == []
    sent = provider.chat_requests
    assert [r.path for r in sent] == [f"/{row}/v1/chat/completions" for row in ("groq", "openai", "ollama", "custom")]
    assert [r.authorization for r in sent] == [
        f"Bearer {server_key}",
        f"Bearer {visitor_key}",
        "Bearer no-key-needed",
        f"Bearer {visitor_key}",
    ]
    secrets = [value for name, value in ambient.items() if name != "OPENAI_BASE_URL"] + [header_canary, auth_canary]
    for request in sent:
        everything = request.path + json.dumps(request.headers) + json.dumps(request.body)
        assert [s for s in secrets if s in everything] == []
        assert not {"openai-organization", "openai-project", "x-canary"} & set(request.headers)


def test_an_error_body_without_end_is_cut_at_the_cap_not_read_to_the_timeout(provider: FakeProvider) -> None:
    # The SDK reads an error body to its end before raising: without the pool's cap this waits
    # for the timeout, holding everything received so far.
    _, error = chat(request_to(provider, "endless-error-503"), canary("k"), timeout=20.0)
    assert type(error) is ProviderUnavailable
    assert error.status == 503
    assert "flood" not in str(error)


def test_a_multi_megabyte_error_body_is_read_only_to_the_cap(provider: FakeProvider) -> None:
    size = 48 * 1024 * 1024
    tracemalloc.start()
    try:
        _, error = chat(request_to(provider, "huge-error-500-48"), canary("k"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert type(error) is ProviderUnavailable
    assert error.status == 500
    # The whole body read once would be 48 MB in one bytes object; what was held stayed near the cap.
    assert peak < 8 * 1024 * 1024, peak
    assert MAX_ERROR_BODY <= provider.error_bytes_sent < size


def test_the_url_guard_refusal_reaches_the_visitor_through_the_sdk(provider: FakeProvider) -> None:
    # localhost resolves to loopback, which a visitor's URL may not reach unless the operator allows it.
    request = dataclasses.replace(
        request_to(provider, "m", row="custom", visitor=True, allow_local=False),
        visitor_base_url=f"http://localhost:{provider.port}/custom/v1",
    )
    key = canary("guarded")
    text, error = chat(request, key)
    assert type(error) is BlockedAddress
    assert text == ""
    assert provider.requests == []
    assert key not in str(error)


def test_chats_to_one_base_url_reuse_one_kept_alive_connection(provider: FakeProvider) -> None:
    async def two_chats() -> None:
        try:
            for _ in range(2):
                request = request_to(provider, "m", row="groq")
                async for _text in ChatStream(request, key=Secret(canary("k")), timeout=10.0):
                    pass
        finally:
            await close_pools()

    asyncio.run(two_chats())
    first, second = provider.chat_requests
    assert first.peer_port == second.peer_port  # the second chat came over the first one's kept-alive connection
