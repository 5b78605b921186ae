"""The fake provider's strict mode: it refuses what real providers refuse, with their own 400
bodies, so tests can tell a wrong request shape from a right one. And the app's every request
shape passes it, while the shapes the app used to send do not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from config.secret import Secret
from config.settings import Settings
from errors import ImagesNotAccepted, ProviderError, RequestRefused
from providers import PROVIDERS, ChatRequest, ChatStream, close_pools
from tests.conftest import canary
from tests.fake_provider import FakeProvider
from tests.request_cases import every_case, record

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
PICTURE = [{"role": "system", "content": "hi"}, {"role": "user", "content": [{"type": "text", "text": "see"}, IMAGE]}]


@pytest.fixture
def strict(provider: FakeProvider) -> Iterator[FakeProvider]:
    provider.strict = True
    yield provider
    provider.strict = False


def post(fake: FakeProvider, provider_id: str, body: dict[str, Any]) -> httpx.Response:
    url = f"http://127.0.0.1:{fake.port}/{provider_id}/v1/chat/completions"
    return httpx.post(url, json={"messages": [{"role": "user", "content": "hi"}], **body}, timeout=10)


@pytest.mark.parametrize(
    ("provider_id", "body", "words"),
    [
        ("openai", {"model": "gpt-5-mini", "temperature": 0.7}, "'temperature' does not support 0.7"),
        ("openai", {"model": "o3-mini", "max_tokens": 10}, "Use 'max_completion_tokens' instead."),
        ("openai", {"model": "gpt-4.1-mini", "reasoning_effort": "low"}, "'reasoning_effort' is not supported"),
        ("openai", {"model": "o3-mini", "messages": PICTURE}, "image_url is only supported by certain models"),
        ("groq", {"model": "llama-3.3-70b-versatile", "reasoning_effort": "high"}, "`reasoning_effort` must be"),
        ("groq", {"model": "llama-3.1-8b-instant", "messages": PICTURE}, "messages[1].content must be a string"),
        ("deepseek", {"model": "deepseek-v4-flash", "messages": PICTURE}, "unknown variant `image_url`"),
        (
            "anthropic",
            {
                "model": "claude-sonnet-4-6",
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "max_tokens": 4096,
                "temperature": 0.5,
            },
            "`temperature` may only be set to 1 when thinking is enabled",
        ),
        (
            "anthropic",
            {"model": "claude-sonnet-4-6", "thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 1024},
            "`max_tokens` must be greater than `thinking.budget_tokens`",
        ),
    ],
)
def test_strict_mode_refuses_with_the_providers_own_400(
    strict: FakeProvider, provider_id: str, body: dict[str, Any], words: str
) -> None:
    response = post(strict, provider_id, body)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert not strict.open_streams


@pytest.mark.parametrize(
    ("provider_id", "body"),
    [
        ("openai", {"model": "gpt-5-mini", "max_completion_tokens": 10, "reasoning_effort": "low"}),
        ("openai", {"model": "gpt-4.1-mini", "temperature": 0.7, "max_completion_tokens": 10, "messages": PICTURE}),
        ("openai", {"model": "gpt-5-chat-latest", "temperature": 0.7}),
        ("groq", {"model": "openai/gpt-oss-120b", "reasoning_effort": "high", "temperature": 0.7}),
        (
            "anthropic",
            {"model": "claude-sonnet-4-6", "thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
        ),
        ("anthropic", {"model": "claude-sonnet-4-6", "temperature": 0.5}),
    ],
)
def test_strict_mode_takes_what_the_provider_takes(
    strict: FakeProvider, provider_id: str, body: dict[str, Any]
) -> None:
    assert post(strict, provider_id, body).status_code == 200


def test_off_by_default(provider: FakeProvider) -> None:
    assert post(provider, "openai", {"model": "gpt-5-mini", "temperature": 0.7}).status_code == 200


def test_every_request_the_app_sends_passes_the_strict_fake(
    settings_for: Callable[..., Settings], strict: FakeProvider
) -> None:
    # record() raises if a chat fails: a strict refusal ends it with a provider error.
    bodies = record(settings_for(), strict, every_case())
    assert sum(body is not None for body in bodies) > 150


def chat_error(request: ChatRequest) -> ProviderError | None:
    async def run() -> ProviderError | None:
        try:
            async for _ in ChatStream(request, key=Secret(canary("strict")), timeout=5.0, max_retries=0):
                pass
        except ProviderError as error:
            return error
        finally:
            await close_pools()
        return None

    return asyncio.run(run())


def request_for(cfg: Settings, provider_id: str, model: str, **fields: Any) -> ChatRequest:
    row = next(p for p in cfg.providers if p.id == provider_id)
    defaults: dict[str, Any] = {"messages": ({"role": "user", "content": "hi"},), "temperature": None, "max_tokens": 64}
    return ChatRequest(provider=row, model=model, **{**defaults, **fields})


def test_the_shape_the_app_used_to_send_is_refused_in_fixed_words(
    settings_for: Callable[..., Settings], strict: FakeProvider
) -> None:
    # Before request shapes were data, gpt-5-mini got the page's temperature of 0.7.
    error = chat_error(request_for(settings_for(), "openai", "gpt-5-mini", temperature=0.7))
    assert isinstance(error, RequestRefused) and error.setting == "temperature"
    assert "does not support 0.7" not in str(error)


def test_images_to_a_model_the_registry_does_not_know_as_text_only_are_refused_as_images(
    settings_for: Callable[..., Settings], strict: FakeProvider
) -> None:
    cfg = settings_for()
    assert next(p for p in PROVIDERS if p.id == "openai").takes_images("o3-mini") is None
    error = chat_error(request_for(cfg, "openai", "o3-mini", messages=tuple(PICTURE)))
    assert isinstance(error, ImagesNotAccepted)
