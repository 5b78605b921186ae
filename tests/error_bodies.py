"""Real error bodies from providers and gateways, each with where it was seen and what the user must read.

The fake provider serves any of these as model ``body-<name>`` (tests/fake_provider.py), so a test
goes through real HTTP, the openai SDK and the app. ``<KEY>`` in a body is replaced by the bearer
token the request carried: where a provider echoes (part of) the key, the fixture echoes all of it,
which is the harder case. Bodies are copied from the cited reports with identifiers shortened; the
shapes, codes and statuses are as published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from errors import (
    ContextTooLong,
    InvalidKey,
    NoModelAccess,
    OutOfCredit,
    ProviderError,
    RateLimited,
    RequestRefused,
    UnknownModel,
)

KEY_MARK = "<KEY>"
_REASONS = {status.phrase for status in HTTPStatus}


@dataclass(frozen=True)
class ErrorBody:
    provider: str  # the registry row whose label the message must name
    status: int
    body: Any  # JSON-able, or a str sent as-is
    source: str  # where this body was published
    kind: type[ProviderError]
    words: str  # must be in the message the user sees
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    setting: str | None = None

    def payload(self, token: str) -> bytes:
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return text.replace(KEY_MARK, token).encode()

    def provider_texts(self) -> list[str]:
        """The provider's own words in this body: none may reach the user."""
        found: list[str] = []
        _strings(self.body, found)
        # Short values (codes like "400", field names we also use) prove nothing either way, and an
        # HTTP reason phrase ("Too Many Requests") is in the HTTP client's own log line anyway.
        return [text for text in found if len(text) >= 16 and text != KEY_MARK and text not in _REASONS]


def _strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
        try:
            inner = json.loads(value)
        except ValueError:
            return
        _strings(inner, found)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found)


_GOOGLE_KEY_ERROR = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    }
}

BODIES: dict[str, ErrorBody] = {
    # --- Google Gemini (OpenAI-compatible endpoint) ---------------------------------------------
    "gemini-key-wrapped": ErrorBody(
        "gemini",
        400,
        {"error": {"message": json.dumps(_GOOGLE_KEY_ERROR, indent=2) + "\n", "code": 400, "status": "Bad Request"}},
        "https://github.com/continuedev/continue/issues/10290",
        InvalidKey,
        "Check the key for Google Gemini",
    ),
    "gemini-key-list": ErrorBody(
        "gemini",
        400,
        [_GOOGLE_KEY_ERROR],
        "https://github.com/continuedev/continue/issues/8516",
        InvalidKey,
        "Check the key for Google Gemini",
    ),
    "gemini-key-bare": ErrorBody(
        "gemini",
        400,
        _GOOGLE_KEY_ERROR,
        "https://github.com/cequence-io/openai-scala-client/issues/109",
        InvalidKey,
        "Check the key for Google Gemini",
    ),
    "gemini-model-wrapped": ErrorBody(
        "gemini",
        404,
        {
            "error": {
                "message": json.dumps(
                    {
                        "error": {
                            "code": 404,
                            "message": "models/gemini-pro is not found for API version v1beta, or is not "
                            "supported for generateContent. Call ListModels to see the list of available "
                            "models and their supported methods.",
                            "status": "NOT_FOUND",
                        }
                    },
                    indent=2,
                ),
                "code": 404,
                "status": "Not Found",
            }
        },
        "https://github.com/continuedev/continue/issues/9939",
        UnknownModel,
        "check the model name",
    ),
    "gemini-quota-retry": ErrorBody(
        "gemini",
        429,
        {
            "error": {
                "message": json.dumps(
                    {
                        "error": {
                            "code": 429,
                            "message": "You exceeded your current quota, please check your plan and billing "
                            "details. For more information on this error, head to: "
                            "https://ai.google.dev/gemini-api/docs/rate-limits.",
                            "status": "RESOURCE_EXHAUSTED",
                            "details": [
                                {
                                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                    "violations": [
                                        {
                                            "quotaMetric": "generativelanguage.googleapis.com/"
                                            "generate_content_free_tier_input_token_count",
                                            "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                                            "quotaValue": "250000",
                                        }
                                    ],
                                },
                                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
                            ],
                        }
                    },
                    indent=2,
                ),
                "code": 429,
                "status": "Too Many Requests",
            }
        },
        "https://github.com/RooCodeInc/Roo-Code/issues/3883",
        RateLimited,
        "Try again in 26 seconds.",
        retry_after=26.0,
    ),
    "gemini-exhausted-list": ErrorBody(
        "gemini",
        429,
        [
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted (e.g. check quota).",
                    "status": "RESOURCE_EXHAUSTED",
                }
            }
        ],
        "https://github.com/n4ze3m/page-assist/issues/406",
        RateLimited,
        "Wait a moment and try again.",
    ),
    # --- OpenAI -------------------------------------------------------------------------------
    "openai-key": ErrorBody(
        "openai",
        401,
        {
            "error": {
                "message": f"Incorrect API key provided: {KEY_MARK}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        "https://platform.openai.com/docs/guides/error-codes",
        InvalidKey,
        "Check the key for OpenAI",
    ),
    "openai-quota": ErrorBody(
        "openai",
        429,
        {
            "error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
        "https://platform.openai.com/docs/guides/error-codes",
        OutOfCredit,
        "out of credit",
    ),
    "openai-context": ErrorBody(
        "openai",
        400,
        {
            "error": {
                "message": "This model's maximum context length is 4097 tokens. However, your messages "
                "resulted in 4294 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
        "https://github.com/chathub-dev/chathub/issues/126",
        ContextTooLong,
        "The conversation is too long for this model",
    ),
    "openai-max-tokens": ErrorBody(
        "openai",
        400,
        {
            "error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
        },
        "https://github.com/griptape-ai/ComfyUI-Griptape/issues/312",
        RequestRefused,
        "does not accept the max tokens setting",
        setting="max tokens",
    ),
    # --- Anthropic (OpenAI SDK compatibility) --------------------------------------------------
    "anthropic-key": ErrorBody(
        "anthropic",
        401,
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": "req_011CXw8h8A796q3f74Ezmhav",
        },
        "https://github.com/Good-player/free-claude-api-and-anthropic/issues/14",
        InvalidKey,
        "Check the key for Anthropic",
    ),
    "anthropic-rate-compat": ErrorBody(
        "anthropic",
        429,
        {
            "error": {
                "code": "rate_limit_error",
                "message": "This request would exceed the rate limit for your organization of 20,000 input "
                "tokens per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits.",
                "type": "invalid_request_error",
                "param": None,
            }
        },
        "https://github.com/FoundationAgents/OpenManus/issues/746",
        RateLimited,
        "Try again in 12 seconds.",
        headers={"retry-after": "12"},
        retry_after=12.0,
    ),
    "anthropic-credit": ErrorBody(
        "anthropic",
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
                "Billing to upgrade or purchase credits.",
            },
        },
        "https://github.com/anthropics/anthropic-sdk-typescript/issues/618",
        OutOfCredit,
        "out of credit",
    ),
    "anthropic-permission": ErrorBody(
        "anthropic",
        403,
        {
            "type": "error",
            "error": {
                "type": "permission_error",
                "message": "Your API key does not have permission to use the specified resource.",
            },
        },
        "https://docs.anthropic.com/en/api/errors",
        NoModelAccess,
        "has no access to the model you chose",
    ),
    # --- Groq ---------------------------------------------------------------------------------
    "groq-key": ErrorBody(
        "groq",
        401,
        {"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}},
        "https://github.com/ag5826000/resume-commentor/issues/4",
        InvalidKey,
        "Check the key for Groq",
    ),
    "groq-rate": ErrorBody(
        "groq",
        429,
        {
            "error": {
                "message": "Rate limit reached for model `llama3-70b-8192` in organization `org_01hrsv` on "
                "tokens per minute (TPM): Limit 7000, Used 0, Requested ~12903. Please try again in "
                "50.597142857s. Visit https://console.groq.com/docs/rate-limits for more information.",
                "type": "tokens",
                "code": "rate_limit_exceeded",
            }
        },
        "https://github.com/danielmiessler/Fabric/issues/364",
        RateLimited,
        "Try again in 51 seconds.",
        headers={"retry-after": "51"},
        retry_after=51.0,
    ),
    # --- Mistral ------------------------------------------------------------------------------
    "mistral-key": ErrorBody(
        "mistral",
        401,
        {"message": "Unauthorized", "request_id": "c61f2f15feca71626a990e3740f99245"},
        "https://github.com/cline/cline/issues/1734",
        InvalidKey,
        "Check the key for Mistral",
    ),
    "mistral-model": ErrorBody(
        "mistral",
        400,
        {
            "object": "error",
            "message": "Invalid model: mistral-medium-3.5",
            "type": "invalid_model",
            "param": None,
            "code": "1500",
        },
        "https://github.com/mistralai/mistral-vibe/issues/617",
        UnknownModel,
        "check the model name",
    ),
    "mistral-extra-field": ErrorBody(
        "mistral",
        422,
        {
            "detail": [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", "max_completion_tokens"],
                    "msg": "Extra inputs are not permitted",
                    "input": 8192,
                }
            ]
        },
        "https://github.com/Gitlawb/openclaude/issues/739",
        RequestRefused,
        "does not accept the max tokens setting",
        setting="max tokens",
    ),
    # --- DeepSeek -----------------------------------------------------------------------------
    "deepseek-key": ErrorBody(
        "deepseek",
        401,
        {
            "error": {
                "message": f"Authentication Fails, Your api key: {KEY_MARK} is invalid",
                "type": "authentication_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
        "https://github.com/FullStackPlayer/claude-code-launcher/issues/3",
        InvalidKey,
        "Check the key for DeepSeek",
    ),
    "deepseek-balance": ErrorBody(
        "deepseek",
        402,
        {
            "error": {
                "message": "Insufficient Balance",
                "type": "unknown_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
        "https://github.com/Aider-AI/aider/issues/4851",
        OutOfCredit,
        "out of credit",
    ),
    # --- OpenRouter ---------------------------------------------------------------------------
    "openrouter-credits": ErrorBody(
        "openrouter",
        402,
        {"error": {"code": 402, "message": "Insufficient credits. Add more using https://openrouter.ai/credits"}},
        "https://openrouter.ai/docs/client-sdks/python/errors/paymentrequiredresponseerror.md",
        OutOfCredit,
        "out of credit",
    ),
    "openrouter-model": ErrorBody(
        "openrouter",
        400,
        {
            "error": {"message": "minimax-m2.5:free is not a valid model ID", "code": 400},
            "user_id": "user_39yvGR6gBlXf8o3DGgqb1NeHs5u",
        },
        "https://github.com/sipeed/picoclaw/issues/1790",
        UnknownModel,
        "check the model name",
    ),
    # --- Together AI --------------------------------------------------------------------------
    "together-key": ErrorBody(
        "together",
        401,
        {
            "error": {
                "message": "Invalid API key provided. You can find your API key at "
                "https://api.together.xyz/settings/api-keys.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        "https://github.com/harshitv804/LawGPT/issues/4",
        InvalidKey,
        "Check the key for Together AI",
    ),
    "together-not-serverless": ErrorBody(
        "together",
        400,
        {
            "error": {
                "message": "Unable to access non-serverless model MiniMaxAI/MiniMax-M2.5. Please visit "
                "https://api.together.ai/models/MiniMaxAI/MiniMax-M2.5 to create and start a new dedicated "
                "endpoint for the model.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_available",
            }
        },
        "https://github.com/can1357/oh-my-pi/pull/8333",
        NoModelAccess,
        "has no access to the model you chose",
    ),
    # --- Hugging Face router ------------------------------------------------------------------
    "hf-model": ErrorBody(
        "hf",
        400,
        {
            "error": {
                "message": "The requested model 'moonshotai/Kimi-K2-Instruct' is not supported by any provider "
                "you have enabled.",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_supported",
            }
        },
        "https://github.com/cline/cline/issues/5098",
        UnknownModel,
        "check the model name",
    ),
    "hf-key": ErrorBody(
        "hf",
        401,
        {"error": "Invalid credentials in Authorization header"},
        # The {"error": "<text>"} shape is the one huggingface_hub's _format() reads; the text is the Hub's
        # answer to a bad token, which some huggingface_hub versions compare against in hf_raise_for_status.
        "https://github.com/huggingface/huggingface_hub/blob/main/src/huggingface_hub/utils/_http.py",
        InvalidKey,
        "Check the key for Hugging Face Inference Providers",
    ),
    # --- LiteLLM proxy (in front of any row; recorded from litellm 1.108.7 with `litellm --config`) --
    "litellm-model": ErrorBody(
        "openai",
        400,
        {
            "error": {
                "message": "/chat/completions: Invalid model name passed in model=nope. Call `/v1/models` to "
                "view available models for your key.",
                "type": "invalid_request_error",
                "param": None,
                "code": "400",
                "provider_specific_fields": {
                    "error": "/chat/completions: Invalid model name passed in model=nope. Call `/v1/models` "
                    "to view available models for your key."
                },
            }
        },
        "https://github.com/BerriAI/litellm/issues/9663",
        UnknownModel,
        "check the model name",
    ),
    "litellm-model-old": ErrorBody(
        "openai",
        400,
        {
            "error": {
                "message": "400: {'error': 'Invalid model name passed in model=Lite-GPT-12'}",
                "type": "None",
                "param": "None",
                "code": 400,
            }
        },
        "https://github.com/BerriAI/litellm/pull/3142",
        UnknownModel,
        "check the model name",
    ),
    "litellm-key": ErrorBody(
        "openai",
        400,
        {"error": {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"}},
        "litellm 1.108.7 proxy without a database, any key but the master key (tests/deploy/test_gateway.py)",
        InvalidKey,
        "Check the key for OpenAI",
    ),
    # --- vLLM ---------------------------------------------------------------------------------
    "vllm-context": ErrorBody(
        "vllm",
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 131072 tokens. However, you requested 351430 "
            "tokens. Please reduce the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        "https://github.com/THUDM/LongBench/issues/104",
        ContextTooLong,
        "The conversation is too long for this model",
    ),
}
