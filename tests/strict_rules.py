"""What real providers refuse, for the fake provider's strict mode (tests/fake_provider.py).

The fake's own table, written from each provider's documentation and the error bodies users have
published; deliberately not the app's registry, so the app's request shapes meet a judge they did
not write. Each refusal is the provider's 400 as it is sent: status and JSON body.

- temperature on reasoning models: OpenAI's o-series and gpt-5 (only the default, 1), and Claude
  while it thinks (https://docs.claude.com/en/docs/build-with-claude/extended-thinking);
- ``max_tokens`` where OpenAI's reasoning models want ``max_completion_tokens``;
- ``reasoning_effort`` on models that do not reason (OpenAI, Groq);
- Claude's thinking budget at or over ``max_tokens``, or under Anthropic's minimum of 1,024;
- images (``image_url`` parts) sent to text-only models.
"""

from __future__ import annotations

import re
from typing import Any

OPENAI_REASONING = re.compile(r"(gpt-5(?!(\.\d+)?-chat)|o\d)([-.].*)?")
GROQ_REASONING = re.compile(r"openai/gpt-oss-.*|qwen/qwen3-.*")
# Text-only models per provider (their vision pages list the others).
TEXT_ONLY = {
    "openai": re.compile(r"o1-mini.*|o3-mini.*|gpt-3\.5.*"),
    "groq": re.compile(r"llama-3\.[13]-.*|openai/gpt-oss-.*|qwen/qwen3-.*"),
    "deepseek": re.compile(r"deepseek-.*"),
}

# https://github.com/danny-avila/LibreChat/issues/10737 (OpenAI, gpt-5 and o-series)
OPENAI_TEMPERATURE = (
    "Unsupported value: 'temperature' does not support {value} with this model. Only the default (1) value is "
    "supported."
)
# https://github.com/griptape-ai/ComfyUI-Griptape/issues/312 (also tests/error_bodies.py)
OPENAI_MAX_TOKENS = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
)
OPENAI_EFFORT = "Unsupported parameter: 'reasoning_effort' is not supported with this model."
# https://platform.openai.com/docs/guides/images-vision (tests/fake_provider.py's novision-*)
OPENAI_IMAGES = "Invalid content type. image_url is only supported by certain models."
# https://github.com/iamsrikanthnani/pluely/pull/219 (Groq)
GROQ_EFFORT = "`reasoning_effort` must be one of `none` or `default`"
# https://github.com/vercel/ai/issues/2837 (Groq, any text-only model)
GROQ_IMAGES = "messages[{index}].content must be a string"
# https://github.com/MartialBE/one-hub/issues/529 (Anthropic)
CLAUDE_TEMPERATURE = (
    "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at "
    "https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking"
)
CLAUDE_BUDGET = "`max_tokens` must be greater than `thinking.budget_tokens`."
CLAUDE_MIN_BUDGET = "thinking.budget_tokens: Input should be greater than or equal to 1024"
# Users' reports of DeepSeek's answer to an image part (DeepSeek documents text messages only).
DEEPSEEK_IMAGES = (
    "Failed to deserialize the JSON body into the target type: messages[{index}]: unknown variant `image_url`, "
    "expected `text`"
)


def refusal(provider_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The provider's 400 for this body, or None when the real provider would take it."""
    model = str(body.get("model", ""))
    if provider_id == "openai":
        return _openai(model, body)
    if provider_id == "anthropic":
        return _anthropic(body)
    if provider_id == "groq":
        if "reasoning_effort" in body and not GROQ_REASONING.fullmatch(model):
            return 400, {"error": {"message": GROQ_EFFORT, "type": "invalid_request_error"}}
        if (index := _image_message(body)) is not None and TEXT_ONLY["groq"].fullmatch(model):
            return 400, {"error": {"message": GROQ_IMAGES.format(index=index), "type": "invalid_request_error"}}
    if (
        provider_id == "deepseek"
        and (index := _image_message(body)) is not None
        and TEXT_ONLY["deepseek"].fullmatch(model)
    ):
        return 400, {"error": {"message": DEEPSEEK_IMAGES.format(index=index), "type": "invalid_request_error"}}
    return None


def _openai(model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    reasoning = OPENAI_REASONING.fullmatch(model) is not None
    if reasoning and body.get("temperature", 1) != 1:
        return 400, _openai_error(
            OPENAI_TEMPERATURE.format(value=body["temperature"]), "temperature", "unsupported_value"
        )
    if reasoning and "max_tokens" in body:
        return 400, _openai_error(OPENAI_MAX_TOKENS, "max_tokens", "unsupported_parameter")
    if not reasoning and "reasoning_effort" in body:
        return 400, _openai_error(OPENAI_EFFORT, "reasoning_effort", "unsupported_parameter")
    if _image_message(body) is not None and TEXT_ONLY["openai"].fullmatch(model):
        return 400, _openai_error(OPENAI_IMAGES, "messages", None)
    return None


def _anthropic(body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        return 400, _anthropic_error(CLAUDE_MIN_BUDGET)
    limit = body.get("max_tokens", body.get("max_completion_tokens"))
    if not isinstance(limit, int) or limit <= budget:
        return 400, _anthropic_error(CLAUDE_BUDGET)
    if body.get("temperature", 1) != 1:
        return 400, _anthropic_error(CLAUDE_TEMPERATURE)
    return None


def _openai_error(message: str, param: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _anthropic_error(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def _image_message(body: dict[str, Any]) -> int | None:
    """The index of the first message carrying an image part, if any."""
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return index
    return None
