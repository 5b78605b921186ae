"""The providers byok-chat knows. An OpenAI-compatible provider is data: add a row, no code.

Every row's base URL and key variable come from the provider's own documentation (cited per row).
``<ID>_BASE_URL`` (``OPENAI_BASE_URL``, ``GROQ_BASE_URL``, ...) lets the operator point a row at
another address; the key variable is the one the provider's docs use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .reasoning import ReasoningControl

__all__ = ["CUSTOM_ID", "PROVIDERS", "SAMPLING", "VISITOR_ENDPOINT", "ModelFamily", "Provider"]

# The sampling settings a chat request may carry. byok-chat sends only a temperature, and only
# the visitor's own; the table records top_p too, as the providers document both together.
SAMPLING = frozenset({"temperature", "top_p"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFamily:
    """What one family of a provider's models takes in a chat request, from the provider's docs."""

    # A regular expression the whole model id must match; ".*" is every model.
    pattern: str = ".*"
    # The sampling settings these models take: reasoning models often take none.
    sampling: frozenset[str] = SAMPLING
    # OpenAI's reasoning models refuse `max_tokens` and want `max_completion_tokens`.
    max_tokens_field: str = "max_tokens"
    # How these models take a reasoning effort; None: the setting is hidden and never sent.
    reasoning: ReasoningControl | None = None
    docs: str = ""

    def matches(self, model: str) -> bool:
        return _compiled(self.pattern).fullmatch(model) is not None

    def takes(self, setting: str, effort: str = "default") -> bool:
        """Does a request with this effort take this sampling setting?"""
        if setting not in self.sampling:
            return False
        control = self.reasoning
        return control is None or control.samples_while_thinking or not control.thinks(effort)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# A model no family of its row names: it takes the common OpenAI request.
PLAIN = ModelFamily()


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    id: str
    label: str
    base_url: str
    key_env: str | None
    models: tuple[str, ...]
    default_model: str
    needs_key: bool = True
    # Mistral answers 422 to `stream_options`; it sends usage in the last chunk anyway.
    stream_usage: bool = True
    # What each family of models takes, first match wins; a model none of them names is PLAIN.
    families: tuple[ModelFamily, ...] = ()
    docs: str = ""
    # Which listed models take images (image_url content parts) and which do not, from the page
    # in vision_docs. Any other model, a typed or custom one, may be sent images: the provider
    # decides, and its refusal becomes ImagesNotAccepted.
    image_models: frozenset[str] = frozenset()
    text_only_models: frozenset[str] = frozenset()
    vision_docs: str = ""

    def family(self, model: str) -> ModelFamily:
        return next((family for family in self.families if family.matches(model)), PLAIN)

    def takes_images(self, model: str) -> bool | None:
        """True or False when the provider's docs say so for this model; None when unknown."""
        if model in self.image_models:
            return True
        if model in self.text_only_models:
            return False
        return None

    @property
    def base_url_env(self) -> str:
        return f"{self.id.upper()}_BASE_URL"


CUSTOM_ID = "custom"
# Offered only with ALLOW_CUSTOM_BASE_URL: the visitor types the URL and always brings the key.
VISITOR_ENDPOINT = Provider(
    id="endpoint",
    label="Your own endpoint",
    base_url="",
    key_env=None,
    models=("default",),
    default_model="default",
)

PROVIDERS: tuple[Provider, ...] = (
    Provider(
        id="openai",
        label="OpenAI",
        base_url="https://api.openai.com/v1",
        key_env="OPENAI_API_KEY",
        models=("gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-5-mini", "gpt-5"),
        default_model="gpt-4.1-mini",
        families=(
            # gpt-5's chat snapshots are not reasoning models: they take a temperature.
            ModelFamily(pattern=r"gpt-5(\.\d+)?-chat.*", max_tokens_field="max_completion_tokens"),
            # The reasoning models (gpt-5 and the o-series) take neither temperature nor top_p,
            # and refuse `max_tokens`. Their lowest effort differs by model, so "off" sends
            # nothing rather than guess.
            ModelFamily(
                pattern=r"(gpt-5|o\d)([-.].*)?",
                sampling=frozenset(),
                max_tokens_field="max_completion_tokens",
                reasoning=ReasoningControl(
                    form="reasoning_effort",
                    docs="https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort",
                ),
                docs="https://platform.openai.com/docs/guides/reasoning",
            ),
            # `max_tokens` is deprecated for every OpenAI model.
            ModelFamily(max_tokens_field="max_completion_tokens"),
        ),
        docs="https://platform.openai.com/docs/api-reference/chat/create",
        image_models=frozenset({"gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-5-mini", "gpt-5"}),
        vision_docs="https://platform.openai.com/docs/guides/images-vision",
    ),
    Provider(
        id="anthropic",
        label="Anthropic",
        base_url="https://api.anthropic.com/v1/",
        key_env="ANTHROPIC_API_KEY",
        models=("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"),
        default_model="claude-sonnet-4-6",
        families=(
            # Claude 4 and 3.7 think when asked; while they do, temperature is refused.
            ModelFamily(
                pattern=r"claude-((opus|sonnet|haiku)-4|3-7-sonnet).*",
                reasoning=ReasoningControl(
                    form="anthropic",
                    samples_while_thinking=False,
                    docs="https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
                ),
            ),
        ),
        docs="https://platform.claude.com/docs/en/api/openai-sdk",
        # Every current Claude model takes images; the compatibility layer accepts base64 image_url.
        image_models=frozenset({"claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"}),
        vision_docs="https://platform.claude.com/docs/en/build-with-claude/vision",
    ),
    Provider(
        id="gemini",
        label="Google Gemini",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
        key_env="GEMINI_API_KEY",
        models=("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"),
        default_model="gemini-2.5-flash",
        # low/medium/high map to thinking budgets; "none" turns thinking off where the model allows.
        families=(
            # The Pro models cannot stop thinking: "off" sends nothing for them.
            ModelFamily(
                pattern=r"gemini-(2\.5|3(\.\d+)?)-pro.*",
                reasoning=ReasoningControl(
                    form="reasoning_effort", docs="https://ai.google.dev/gemini-api/docs/thinking"
                ),
            ),
            ModelFamily(
                pattern=r"gemini-(2\.5|3(\.\d+)?)-.*",
                reasoning=ReasoningControl(
                    form="reasoning_effort",
                    off_value="none",
                    docs="https://ai.google.dev/gemini-api/docs/openai#thinking",
                ),
            ),
        ),
        docs="https://ai.google.dev/gemini-api/docs/openai",
        image_models=frozenset({"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"}),
        vision_docs="https://ai.google.dev/gemini-api/docs/openai#image-understanding",
    ),
    Provider(
        id="groq",
        label="Groq",
        base_url="https://api.groq.com/openai/v1",
        key_env="GROQ_API_KEY",
        models=("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b"),
        default_model="llama-3.3-70b-versatile",
        # gpt-oss takes low/medium/high and cannot be switched off; the others take no effort.
        families=(
            ModelFamily(
                pattern=r"openai/gpt-oss-.*",
                reasoning=ReasoningControl(form="reasoning_effort", docs="https://console.groq.com/docs/reasoning"),
            ),
        ),
        docs="https://console.groq.com/docs/openai",
        # Groq lists its vision models (Llama 4 Scout) on its own page; the three here are text only.
        image_models=frozenset({"meta-llama/llama-4-scout-17b-16e-instruct"}),
        text_only_models=frozenset({"llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b"}),
        vision_docs="https://console.groq.com/docs/vision",
    ),
    Provider(
        id="mistral",
        label="Mistral",
        base_url="https://api.mistral.ai/v1",
        key_env="MISTRAL_API_KEY",
        models=("mistral-large-latest", "mistral-medium-latest", "mistral-small-latest"),
        default_model="mistral-small-latest",
        stream_usage=False,
        docs="https://docs.mistral.ai/api/",
        image_models=frozenset({"mistral-medium-latest", "mistral-small-latest", "pixtral-large-latest"}),
        vision_docs="https://docs.mistral.ai/capabilities/vision/",
    ),
    Provider(
        id="deepseek",
        label="DeepSeek",
        base_url="https://api.deepseek.com/v1",
        key_env="DEEPSEEK_API_KEY",
        models=("deepseek-v4-flash", "deepseek-v4-pro"),
        default_model="deepseek-v4-flash",
        families=(
            # In thinking mode temperature and top_p have no effect (not an error): the reasoner
            # always thinks, so the page says it sets its own.
            ModelFamily(
                pattern=r"deepseek-reasoner",
                sampling=frozenset(),
                reasoning=ReasoningControl(form="deepseek", docs="https://api-docs.deepseek.com/guides/thinking_mode"),
            ),
            ModelFamily(
                reasoning=ReasoningControl(form="deepseek", docs="https://api-docs.deepseek.com/guides/thinking_mode")
            ),
        ),
        docs="https://api-docs.deepseek.com/",
        # DeepSeek's chat API documents text messages only.
        text_only_models=frozenset({"deepseek-v4-flash", "deepseek-v4-pro"}),
        vision_docs="https://api-docs.deepseek.com/api/create-chat-completion",
    ),
    Provider(
        id="openrouter",
        label="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        key_env="OPENROUTER_API_KEY",
        models=("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash"),
        default_model="openai/gpt-4o-mini",
        # One `reasoning` object for every model; models that do not reason ignore it.
        families=(
            ModelFamily(
                reasoning=ReasoningControl(
                    form="openrouter", docs="https://openrouter.ai/docs/use-cases/reasoning-tokens"
                )
            ),
        ),
        docs="https://openrouter.ai/docs/quickstart",
        image_models=frozenset({"openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash"}),
        vision_docs="https://openrouter.ai/docs/features/multimodal/images",
    ),
    Provider(
        id="together",
        label="Together AI",
        base_url="https://api.together.ai/v1",
        key_env="TOGETHER_API_KEY",
        models=(
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "deepseek-ai/DeepSeek-V3",
            "Qwen/Qwen2.5-72B-Instruct-Turbo",
        ),
        default_model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        docs="https://docs.together.ai/docs/inference/openai-compatibility",
        text_only_models=frozenset(
            {"meta-llama/Llama-3.3-70B-Instruct-Turbo", "deepseek-ai/DeepSeek-V3", "Qwen/Qwen2.5-72B-Instruct-Turbo"}
        ),
        vision_docs="https://docs.together.ai/docs/vision-overview",
    ),
    Provider(
        id="hf",
        label="Hugging Face Inference Providers",
        base_url="https://router.huggingface.co/v1",
        key_env="HF_TOKEN",
        models=(
            "openai/gpt-oss-120b",
            "meta-llama/Llama-3.1-8B-Instruct",
            "Qwen/Qwen3-235B-A22B-Instruct-2507",
        ),
        default_model="openai/gpt-oss-120b",
        docs="https://huggingface.co/docs/inference-providers/tasks/chat-completion",
        text_only_models=frozenset(
            {"openai/gpt-oss-120b", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-235B-A22B-Instruct-2507"}
        ),
        vision_docs="https://huggingface.co/docs/inference-providers/tasks/image-text-to-text",
    ),
    Provider(
        id="ollama",
        label="Ollama (local)",
        base_url="http://localhost:11434/v1",
        key_env="OLLAMA_API_KEY",
        models=("llama3.2", "gpt-oss:20b", "gemma3"),
        default_model="llama3.2",
        needs_key=False,
        docs="https://docs.ollama.com/api/openai-compatibility",
        # Vision depends on the pulled model: gemma3 takes images, llama3.2 and gpt-oss do not.
        image_models=frozenset({"gemma3"}),
        text_only_models=frozenset({"llama3.2", "gpt-oss:20b"}),
        vision_docs="https://docs.ollama.com/api/openai-compatibility",
    ),
    Provider(
        id="lmstudio",
        label="LM Studio (local)",
        base_url="http://localhost:1234/v1",
        key_env="LMSTUDIO_API_KEY",
        models=("local-model",),
        default_model="local-model",
        needs_key=False,
        docs="https://lmstudio.ai/docs/developer/openai-compat",
    ),
    Provider(
        id="vllm",
        label="vLLM server (local)",
        base_url="http://localhost:8000/v1",
        key_env="VLLM_API_KEY",
        models=("local-model",),
        default_model="local-model",
        needs_key=False,
        docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
    ),
    Provider(
        id="llamacpp",
        label="llama.cpp server (local)",
        base_url="http://localhost:8080/v1",
        key_env="LLAMACPP_API_KEY",
        models=("local-model",),
        default_model="local-model",
        needs_key=False,
        docs="https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md",
    ),
)
