"""The providers byok-chat knows. An OpenAI-compatible provider is data: add a row, no code.

Every row's base URL and key variable come from the provider's own documentation (cited per row).
``<ID>_BASE_URL`` (``OPENAI_BASE_URL``, ``GROQ_BASE_URL``, ...) lets the operator point a row at
another address; the key variable is the one the provider's docs use.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reasoning import ReasoningControl

__all__ = ["CUSTOM_ID", "PROVIDERS", "VISITOR_ENDPOINT", "Provider"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    id: str
    label: str
    base_url: str
    key_env: str | None
    models: tuple[str, ...]
    default_model: str
    needs_key: bool = True
    # OpenAI's reasoning models refuse `max_tokens`; every other row accepts it.
    max_tokens_param: str = "max_tokens"
    # Mistral answers 422 to `stream_options`; it sends usage in the last chunk anyway.
    stream_usage: bool = True
    # How this provider takes a reasoning effort, and for which models; None: the setting is hidden.
    reasoning: ReasoningControl | None = None
    docs: str = ""
    # Which listed models take images (image_url content parts) and which do not, from the page
    # in vision_docs. Any other model, a typed or custom one, may be sent images: the provider
    # decides, and its refusal becomes ImagesNotAccepted.
    image_models: frozenset[str] = frozenset()
    text_only_models: frozenset[str] = frozenset()
    vision_docs: str = ""

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
        max_tokens_param="max_completion_tokens",
        # `reasoning_effort` is for reasoning models only (gpt-5 and the o-series); their lowest
        # value differs by model, so "off" sends nothing rather than guess.
        reasoning=ReasoningControl(
            form="reasoning_effort",
            model_prefixes=("gpt-5", "o1", "o3", "o4"),
            docs="https://platform.openai.com/docs/api-reference/chat/create#chat-create-reasoning_effort",
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
        reasoning=ReasoningControl(
            form="reasoning_effort",
            model_prefixes=("gemini-2.5", "gemini-3"),
            off_value="none",
            docs="https://ai.google.dev/gemini-api/docs/openai#thinking",
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
        # gpt-oss takes low/medium/high and cannot be switched off.
        reasoning=ReasoningControl(
            form="reasoning_effort",
            model_prefixes=("openai/gpt-oss",),
            docs="https://console.groq.com/docs/reasoning",
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
        reasoning=ReasoningControl(form="deepseek", docs="https://api-docs.deepseek.com/guides/thinking_mode"),
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
        reasoning=ReasoningControl(form="openrouter", docs="https://openrouter.ai/docs/use-cases/reasoning-tokens"),
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
