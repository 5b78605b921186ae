"""Each model family's request, as the registry's rows describe it: the max-tokens field, the
sampling settings, the effort form. What the page and scripts send by default is the provider's
own default: no temperature at all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from config.secret import Secret
from config.settings import Settings
from conversation.request import ChatInputs, build_request
from errors import InputRejected
from providers import PROVIDERS, ChatStream, close_pools
from tests.conftest import canary
from tests.fake_provider import FakeProvider


@pytest.fixture
def cfg(settings_for: Any) -> Settings:
    return settings_for()


def inputs(provider_id: str, model: str, *, temperature: object = None, effort: str = "default") -> ChatInputs:
    return ChatInputs(
        message="hi",
        history=[],
        provider_id=provider_id,
        model=model,
        system_prompt="",
        temperature=temperature,
        max_tokens=64,
        effort=effort,
    )


def sent_body(cfg: Settings, provider: FakeProvider, provider_id: str, model: str, **chosen: Any) -> dict[str, Any]:
    request = build_request(cfg, inputs(provider_id, model, **chosen))

    async def chat() -> None:
        try:
            async for _ in ChatStream(request, key=Secret(canary("shape")), timeout=5.0, max_retries=0):
                pass
        finally:
            await close_pools()

    asyncio.run(chat())
    return provider.chat_requests[-1].body


def row(provider_id: str):
    return next(p for p in PROVIDERS if p.id == provider_id)


@pytest.mark.parametrize(
    ("provider_id", "model", "field", "temperature"),
    [
        ("openai", "gpt-5-mini", "max_completion_tokens", False),
        ("openai", "o3-mini", "max_completion_tokens", False),
        ("openai", "o4-mini-2025-04-16", "max_completion_tokens", False),
        ("openai", "gpt-5-chat-latest", "max_completion_tokens", True),
        ("openai", "gpt-4.1-mini", "max_completion_tokens", True),
        ("anthropic", "claude-sonnet-4-6", "max_tokens", True),
        ("deepseek", "deepseek-reasoner", "max_tokens", False),
        ("groq", "openai/gpt-oss-120b", "max_tokens", True),
        ("mistral", "mistral-small-latest", "max_tokens", True),
    ],
)
def test_a_family_is_found_by_its_model_id(provider_id: str, model: str, field: str, temperature: bool) -> None:
    family = row(provider_id).family(model)
    assert family.max_tokens_field == field
    assert family.takes("temperature") is temperature


def test_the_default_request_carries_no_temperature(cfg: Settings, provider: FakeProvider) -> None:
    body = sent_body(cfg, provider, "openai", "gpt-5-mini")
    assert "temperature" not in body and "top_p" not in body
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


def test_a_chosen_temperature_is_sent_where_the_model_takes_it(cfg: Settings, provider: FakeProvider) -> None:
    assert sent_body(cfg, provider, "openai", "gpt-4.1-mini", temperature=0.7)["temperature"] == 0.7
    assert sent_body(cfg, provider, "groq", "llama-3.3-70b-versatile", temperature=0)["temperature"] == 0


@pytest.mark.parametrize(
    ("provider_id", "model", "effort", "words"),
    [
        ("openai", "gpt-5-mini", "default", "This model takes no temperature: OpenAI sets it"),
        ("openai", "o3-mini", "high", "This model takes no temperature"),
        ("anthropic", "claude-opus-4-6", "high", "takes no temperature while it thinks"),
    ],
)
def test_a_temperature_the_model_cannot_take_is_refused_before_anything_is_sent(
    cfg: Settings, provider: FakeProvider, provider_id: str, model: str, effort: str, words: str
) -> None:
    with pytest.raises(InputRejected) as refused:
        build_request(cfg, inputs(provider_id, model, temperature=0.7, effort=effort))
    assert words in str(refused.value) and "null" in str(refused.value)
    assert not provider.chat_requests


def test_claude_takes_a_temperature_when_it_is_not_asked_to_think(cfg: Settings, provider: FakeProvider) -> None:
    for effort in ("default", "off"):
        assert (
            build_request(cfg, inputs("anthropic", "claude-opus-4-6", temperature=0.2, effort=effort)).temperature
            == 0.2
        )
