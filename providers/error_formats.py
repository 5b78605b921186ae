"""What each provider's error body means, as data: read by ``providers.classify``.

A row per provider in ``providers.registry``, with a link to where that provider documents its error
format. Values are matched lower-cased and exactly against the body's structured fields
(``error.code``, ``error.type``, Google's ``error.status`` and ``details[].reason``); ``phrases`` are
lower-case fragments of the provider's message, used only where a format has no code for a cause
(LiteLLM, OpenRouter and the Hugging Face router name an unknown model in words only). Matching never
copies provider text anywhere: a match only picks one of our fixed messages.

``COMMON`` applies to every provider, because a gateway (LiteLLM, a company proxy, OpenRouter) can sit
behind any base URL and pass on the shape of whatever is behind it. Codes that mean nothing on their own
(``invalid_request_error``, ``unknown_error``, ``INVALID_ARGUMENT``) are deliberately absent: DeepSeek
sends ``code: invalid_request_error`` with its 402 "Insufficient Balance", so the status decides.

Sources of the real bodies these rows were written from are cited in ``tests/error_bodies.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

__all__ = ["COMMON", "FORMATS", "SETTINGS", "STATUS_CAUSES", "Cause", "ErrorFormat", "format_for"]


class Cause(StrEnum):
    WRONG_KEY = "wrong_key"
    NO_ACCESS = "no_access"  # the key is fine, but not for this model
    UNKNOWN_MODEL = "unknown_model"
    NO_CREDIT = "no_credit"
    RATE_LIMITED = "rate_limited"
    TOO_LONG = "too_long"  # the conversation (or the reply it asks for) exceeds the model's context
    BAD_SETTING = "bad_setting"  # the model refuses one of the settings we sent
    REFUSED = "refused"  # some other 4xx
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"


def _frozen(mapping: Mapping[str, Cause]) -> Mapping[str, Cause]:
    return MappingProxyType({key.lower(): value for key, value in mapping.items()})


@dataclass(frozen=True, slots=True)
class ErrorFormat:
    docs: str
    codes: Mapping[str, Cause] = field(default_factory=lambda: MappingProxyType({}))
    phrases: tuple[tuple[str, Cause], ...] = ()
    # Where this provider's HTTP status means something other than the usual (STATUS_CAUSES).
    statuses: Mapping[int, Cause] = field(default_factory=lambda: MappingProxyType({}))


# The status alone, when nothing in the body says more; this was the whole mapping before.
STATUS_CAUSES: Mapping[int, Cause] = MappingProxyType(
    {
        401: Cause.WRONG_KEY,
        403: Cause.WRONG_KEY,
        402: Cause.NO_CREDIT,
        404: Cause.UNKNOWN_MODEL,
        408: Cause.TIMEOUT,
        413: Cause.TOO_LONG,
        429: Cause.RATE_LIMITED,
    }
)

# The request fields we send, and how a message names them. A provider's `param` (or a validation
# error's `loc`) is shown only through this table, never as the provider wrote it.
SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        "temperature": "temperature",
        "max_tokens": "max tokens",
        "max_completion_tokens": "max tokens",
        "stream_options": "stream_options (usage reporting)",
        "reasoning_effort": "reasoning effort",
    }
)

COMMON = ErrorFormat(
    # OpenAI's codes are the ones most OpenAI-compatible servers and gateways copy.
    docs="https://platform.openai.com/docs/guides/error-codes",
    codes=_frozen(
        {
            # OpenAI and the servers that copy its codes
            "invalid_api_key": Cause.WRONG_KEY,
            "insufficient_quota": Cause.NO_CREDIT,
            "billing_hard_limit_reached": Cause.NO_CREDIT,
            "model_not_found": Cause.UNKNOWN_MODEL,
            "context_length_exceeded": Cause.TOO_LONG,
            "string_above_max_length": Cause.TOO_LONG,
            "rate_limit_exceeded": Cause.RATE_LIMITED,
            "unsupported_parameter": Cause.BAD_SETTING,
            "unsupported_value": Cause.BAD_SETTING,
            "server_error": Cause.UNAVAILABLE,
            # Anthropic's error types (native and OpenAI-compatible endpoint)
            "authentication_error": Cause.WRONG_KEY,
            "permission_error": Cause.NO_ACCESS,
            "not_found_error": Cause.UNKNOWN_MODEL,
            "billing_error": Cause.NO_CREDIT,
            "rate_limit_error": Cause.RATE_LIMITED,
            "request_too_large": Cause.TOO_LONG,
            "overloaded_error": Cause.UNAVAILABLE,
            "api_error": Cause.UNAVAILABLE,
            # Google's canonical status and ErrorInfo reasons
            "api_key_invalid": Cause.WRONG_KEY,
            "api_key_expired": Cause.WRONG_KEY,
            "unauthenticated": Cause.WRONG_KEY,
            "permission_denied": Cause.NO_ACCESS,
            "not_found": Cause.UNKNOWN_MODEL,
            "resource_exhausted": Cause.RATE_LIMITED,
            "ratelimitexceeded": Cause.RATE_LIMITED,
            # LiteLLM's proxy (ProxyErrorTypes), which answers key errors with a 400. Without a database
            # it accepts only its master key and calls any other key "no_db_connection".
            "auth_error": Cause.WRONG_KEY,
            "no_db_connection": Cause.WRONG_KEY,
            "token_not_found_in_db": Cause.WRONG_KEY,
            "expired_key": Cause.WRONG_KEY,
            "key_model_access_denied": Cause.NO_ACCESS,
            "team_model_access_denied": Cause.NO_ACCESS,
            "user_model_access_denied": Cause.NO_ACCESS,
            "org_model_access_denied": Cause.NO_ACCESS,
            "budget_exceeded": Cause.NO_CREDIT,
            # Hugging Face router
            "model_not_supported": Cause.UNKNOWN_MODEL,
            # Mistral
            "invalid_model": Cause.UNKNOWN_MODEL,
        }
    ),
    phrases=(
        ("invalid model name passed in", Cause.UNKNOWN_MODEL),  # LiteLLM proxy
        ("is not a valid model id", Cause.UNKNOWN_MODEL),  # OpenRouter
        ("not supported by any provider you have enabled", Cause.UNKNOWN_MODEL),  # HF router
        ("maximum context length", Cause.TOO_LONG),  # OpenAI, vLLM, DeepSeek, Groq
        ("prompt is too long", Cause.TOO_LONG),  # Anthropic
        ("credit balance is too low", Cause.NO_CREDIT),  # Anthropic sends it as a 400
        ("insufficient balance", Cause.NO_CREDIT),  # DeepSeek
        ("insufficient credits", Cause.NO_CREDIT),  # OpenRouter
        ("api key not valid", Cause.WRONG_KEY),  # Google, when only the text survives a gateway
    ),
)

FORMATS: Mapping[str, ErrorFormat] = MappingProxyType(
    {
        "openai": ErrorFormat(docs="https://platform.openai.com/docs/guides/error-codes"),
        "anthropic": ErrorFormat(docs="https://docs.anthropic.com/en/api/errors"),
        "gemini": ErrorFormat(
            docs="https://ai.google.dev/gemini-api/docs/troubleshooting",
            # A key from a project without access, or a region without the free tier.
            codes=_frozen({"failed_precondition": Cause.NO_ACCESS}),
        ),
        "groq": ErrorFormat(docs="https://console.groq.com/docs/errors"),
        "mistral": ErrorFormat(docs="https://docs.mistral.ai/api/"),
        "deepseek": ErrorFormat(
            docs="https://api-docs.deepseek.com/quick_start/error_codes",
            # "422 - Invalid Parameters": DeepSeek names no param, so the status says as much as we know.
            statuses=MappingProxyType({422: Cause.BAD_SETTING}),
        ),
        "openrouter": ErrorFormat(
            docs="https://openrouter.ai/docs/api-reference/errors",
            # "403: Your chosen model requires moderation and your input was flagged"; 503: no provider
            # meets the routing requirements.
            statuses=MappingProxyType({403: Cause.REFUSED}),
        ),
        "together": ErrorFormat(
            docs="https://docs.together.ai/docs/error-codes",
            # "403 - Input token count + max_tokens parameter must be less than the context length".
            codes=_frozen({"model_not_available": Cause.NO_ACCESS}),
            statuses=MappingProxyType({403: Cause.TOO_LONG}),
        ),
        "hf": ErrorFormat(docs="https://huggingface.co/docs/inference-providers/index"),
        "ollama": ErrorFormat(docs="https://docs.ollama.com/api/openai-compatibility"),
        "lmstudio": ErrorFormat(docs="https://lmstudio.ai/docs/developer/openai-compat"),
        "vllm": ErrorFormat(docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"),
        "llamacpp": ErrorFormat(docs="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md"),
    }
)

# Custom endpoints and gateways (LiteLLM: https://docs.litellm.ai/docs/exception_mapping) get COMMON
# only.
_NONE = ErrorFormat(docs=COMMON.docs)


def format_for(provider_id: str) -> ErrorFormat:
    return FORMATS.get(provider_id, _NONE)
