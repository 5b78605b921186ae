"""The operator's configuration, read once from the environment and an optional ``.env``.

The environment wins over ``.env``. ``.env`` is read without copying it into ``os.environ``: keys
stay out of the environment that child processes and the openai SDK's fallbacks read.
Every malformed value stops start-up with a :class:`ConfigError` that names the variable and the
fix, and never quotes the value of a key variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from errors import ConfigError
from providers.registry import CUSTOM_ID, PROVIDERS, VISITOR_ENDPOINT, Provider

from .guards import (
    DEFAULT_UPLOAD_LIMIT_MB,
    attachment_settings,
    boundary_settings,
    gate_settings,
    is_gated,
    quota_settings,
)
from .prices import ModelPrice, SpendWindow, parse_model_prices
from .secret import KEY_SHAPE, Secret
from .variables import flag, number, whole

__all__ = ["Settings", "load_settings"]

# The openai SDK reads these itself and would attach them to requests for *every* provider.
_SDK_AMBIENT = ("OPENAI_CUSTOM_HEADERS", "OPENAI_ADMIN_KEY")
_MODEL_NAME = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    providers: tuple[Provider, ...]
    server_keys: Mapping[str, Secret] = field(repr=False)
    # Keyless providers whose base URL the operator set (<ID>_BASE_URL, or a keyless custom row).
    operator_servers: frozenset[str] = frozenset()
    default_provider: str
    default_model: str | None = None
    system_prompt: str = "You are a helpful assistant."
    request_timeout: float = 60.0
    max_reply_seconds: float = 600.0
    max_retries: int = 1
    max_message_chars: int = 16_000
    max_history_messages: int = 40
    max_history_chars: int = 100_000
    max_output_tokens: int = 8192
    concurrency_limit: int = 200
    # Chats one client may have running at once: no one takes every CONCURRENCY_LIMIT slot.
    max_chats_per_client: int = 8
    queue_max_size: int = 400
    analytics: bool = False
    access_codes: tuple[Secret, ...] = field(default=(), repr=False)
    access_code_byo_exempt: bool = False
    allowed_hf_users: frozenset[str] = frozenset()
    allowed_hf_orgs: frozenset[str] = frozenset()
    rate_limit: str = ""
    daily_token_limit: int | None = None
    # US dollars on server keys: per client per UTC day, and for everyone together (config/prices.py).
    daily_spend_limit: float | None = None
    spend_limit: tuple[SpendWindow, ...] = ()
    rate_limit_storage: str = "memory://"
    trusted_proxies: str = ""
    # Running on a Hugging Face Space (the Hub's proxy is the app's only way in).
    on_space: bool = False
    # TRUSTED_PROXIES was set, even to nothing; else the default (one hop on a Space) applies.
    trusted_proxies_set: bool = False
    allow_custom_base_url: bool = False
    allow_local_base_url: bool = False
    # The browser boundary (web/boundary.py).
    allowed_origins: frozenset[str] = frozenset()
    frame_ancestors: tuple[str, ...] = ()
    space_host: str | None = None
    # Host names the app answers to besides loopback names, IP addresses and the Space's host
    # ("*" for any): a name an attacker points at this server (DNS rebinding) is refused.
    allowed_hosts: frozenset[str] = frozenset()
    # Seconds a model list fetched with a server key is shared before it is fetched again.
    model_list_ttl: float = 3600.0
    # <ID>_MODELS: the only models visitors may use on that provider's server key.
    allowed_models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # MODEL_PRICES: the operator's prices by (provider id, model id or "*"), config/prices.py.
    model_prices: Mapping[tuple[str, str], ModelPrice] = field(default_factory=dict)
    save_history: bool = False
    examples: tuple[str, ...] = ()
    # Attachments (conversation/attachments.py). Uploads: the cap on any one file Gradio accepts.
    max_image_mb: float = 10.0
    max_upload_mb: float = 10.0
    max_files_per_message: int = 4
    # UPLOAD_LIMIT_MB: megabytes one client address may upload per window, "" = no limit.
    upload_limit_mb: str = DEFAULT_UPLOAD_LIMIT_MB

    @property
    def gated(self) -> bool:
        """Is anything standing between a stranger and the server's keys?"""
        return bool(self.access_codes or self.allowed_hf_users or self.allowed_hf_orgs)

    def provider(self, provider_id: object) -> Provider | None:
        return next((p for p in self.providers if p.id == provider_id), None)

    def server_key(self, provider_id: str) -> Secret | None:
        return self.server_keys.get(provider_id)

    def operators_spend(self, provider: Provider) -> bool:
        """Does a chat to this provider's operator-configured address cost the operator? With a
        server key it does; a keyless server (Ollama, vLLM, LM Studio, llama.cpp, a keyless custom
        row) runs on the operator's machine or account whatever key the visitor sends."""
        if provider.id == VISITOR_ENDPOINT.id:
            return False
        return provider.id in self.server_keys or not provider.needs_key

    def needs_visitor_key(self, provider: Provider) -> bool:
        return provider.needs_key and provider.id not in self.server_keys

    def restricted_models(self, provider: Provider) -> tuple[str, ...] | None:
        """The operator's allow-list for this provider's server key, or None when any model goes."""
        if provider.id not in self.server_keys:
            return None
        return self.allowed_models.get(provider.id)

    def initial_model(self, provider: Provider) -> str:
        if provider.id == self.default_provider and self.default_model:
            chosen = self.default_model
        else:
            chosen = provider.default_model
        allowed = self.restricted_models(provider)
        return allowed[0] if allowed and chosen not in allowed else chosen


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | os.PathLike[str] | None = ".env"
) -> Settings:
    environ = os.environ if environ is None else environ
    _check_gradio_port(environ)
    env = _merged_environment(environ, dotenv_path)
    for name in _SDK_AMBIENT:
        if env.get(name):
            raise ConfigError(
                f"{name} is set. The openai SDK would attach it to requests for every provider, "
                f"not only OpenAI. Unset {name}."
            )
    providers = tuple(_configured(p, env) for p in PROVIDERS) + _custom_provider(env)
    if flag(env, "ALLOW_CUSTOM_BASE_URL", default=False):
        providers += (VISITOR_ENDPOINT,)
    server_keys = {p.id: key for p in providers if p.key_env and (key := _server_key(env, p.key_env))}
    # Keyless servers the operator pointed the app at: the operator's spend, like a server key.
    operator_servers = frozenset(
        p.id
        for p in providers
        if not p.needs_key
        and p.id != VISITOR_ENDPOINT.id
        and (p.id == CUSTOM_ID or env.get(p.base_url_env, "").strip())
    )
    default_provider = _default_provider(env, providers, server_keys)
    default_model = env.get("DEFAULT_MODEL", "").strip() or None
    if default_model is not None and not _MODEL_NAME.fullmatch(default_model):
        raise ConfigError("DEFAULT_MODEL must be a model id without spaces, at most 200 characters.")
    gate = gate_settings(env)
    return Settings(
        **gate,
        **boundary_settings(env),
        **quota_settings(env, has_server_keys=bool(server_keys or operator_servers), gated=is_gated(gate)),
        operator_servers=operator_servers,
        providers=providers,
        server_keys=server_keys,
        default_provider=default_provider,
        default_model=default_model,
        system_prompt=env.get("SYSTEM_PROMPT", "You are a helpful assistant."),
        request_timeout=number(env, "REQUEST_TIMEOUT", 60.0, low=1, high=3600),
        max_reply_seconds=number(env, "MAX_REPLY_SECONDS", 600.0, low=1, high=86_400),
        max_message_chars=whole(env, "MAX_MESSAGE_CHARS", 16_000, low=100, high=1_000_000),
        max_history_messages=whole(env, "MAX_HISTORY_MESSAGES", 40, low=0, high=1000),
        max_output_tokens=whole(env, "MAX_OUTPUT_TOKENS", 8192, low=16, high=1_000_000),
        concurrency_limit=whole(env, "CONCURRENCY_LIMIT", 200, low=1, high=10_000),
        max_chats_per_client=whole(env, "MAX_CHATS_PER_CLIENT", 8, low=1, high=10_000),
        queue_max_size=whole(env, "QUEUE_MAX_SIZE", 400, low=1, high=100_000),
        **attachment_settings(env),
        analytics=env.get("GRADIO_ANALYTICS_ENABLED", "").strip().lower() in {"1", "true", "yes"},
        model_list_ttl=number(env, "MODEL_LIST_TTL", 3600.0, low=0, high=7 * 86_400),
        allowed_models=_allowed_models(env, providers),
        model_prices=parse_model_prices(env.get("MODEL_PRICES", ""), (p.id for p in providers)),
        save_history=flag(env, "SAVE_HISTORY", default=False),
        examples=_examples(env),
    )


MAX_EXAMPLES = 20


def _allowed_models(env: Mapping[str, str], providers: tuple[Provider, ...]) -> dict[str, tuple[str, ...]]:
    allowed: dict[str, tuple[str, ...]] = {}
    for provider in providers:
        if provider.id == VISITOR_ENDPOINT.id:
            continue  # always the visitor's own key
        name = f"{provider.id.upper()}_MODELS"
        models = tuple(dict.fromkeys(m.strip() for m in env.get(name, "").split(",") if m.strip()))
        if not models:
            continue
        if not all(_MODEL_NAME.fullmatch(model) for model in models):
            raise ConfigError(f"{name} must be a comma-separated list of model ids without spaces.")
        allowed[provider.id] = models
    return allowed


def _examples(env: Mapping[str, str]) -> tuple[str, ...]:
    prompts = tuple(p.strip() for p in env.get("EXAMPLES", "").split("|") if p.strip())
    if len(prompts) > MAX_EXAMPLES or any(len(p) > 1000 for p in prompts):
        raise ConfigError(f"EXAMPLES: at most {MAX_EXAMPLES} prompts separated by |, each under 1,000 characters.")
    return prompts


def _check_gradio_port(environ: Mapping[str, str]) -> None:
    # Gradio parses this when it is imported and fails with a bare traceback. Only the process
    # environment counts: Gradio never sees .env.
    raw = environ.get("GRADIO_SERVER_PORT", "").strip()
    if raw and not (raw.isdigit() and 1 <= int(raw) <= 65535):
        raise ConfigError("GRADIO_SERVER_PORT must be a port number from 1 to 65535, such as 7860.")


def _merged_environment(environ: Mapping[str, str], dotenv_path: str | os.PathLike[str] | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(environ)
    return merged


def _server_key(env: Mapping[str, str], name: str) -> Secret | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    if not KEY_SHAPE.fullmatch(value):
        raise ConfigError(
            f"{name} contains spaces, line breaks or non-ASCII characters. Set it to the key "
            f"alone, exactly as the provider shows it."
        )
    return Secret(value)


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL such as https://api.example.com/v1.")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            f"{name} must not contain credentials, a query or a fragment; put keys in the "
            f"provider's key variable instead."
        )
    return value


def _configured(provider: Provider, env: Mapping[str, str]) -> Provider:
    return replace(provider, base_url=_base_url(env, provider.base_url_env, provider.base_url))


def _custom_provider(env: Mapping[str, str]) -> tuple[Provider, ...]:
    base_url = env.get("CUSTOM_BASE_URL", "").strip()
    models = tuple(m.strip() for m in env.get("CUSTOM_MODELS", "").split(",") if m.strip())
    if not base_url:
        if models or env.get("CUSTOM_API_KEY", "").strip():
            raise ConfigError(
                "CUSTOM_MODELS or CUSTOM_API_KEY is set without CUSTOM_BASE_URL. Set "
                "CUSTOM_BASE_URL to the endpoint's OpenAI-compatible URL (ending in /v1)."
            )
        return ()
    for model in models:
        if not _MODEL_NAME.fullmatch(model):
            raise ConfigError("CUSTOM_MODELS must be a comma-separated list of model ids without spaces.")
    custom = Provider(
        id=CUSTOM_ID,
        label=env.get("CUSTOM_LABEL", "").strip() or "Custom endpoint",
        base_url=_base_url(env, "CUSTOM_BASE_URL", ""),
        key_env="CUSTOM_API_KEY",
        models=models or ("default",),
        default_model=(models or ("default",))[0],
        needs_key=flag(env, "CUSTOM_NEEDS_KEY", default=True),
    )
    return (custom,)


def _default_provider(
    env: Mapping[str, str], providers: tuple[Provider, ...], server_keys: Mapping[str, Secret]
) -> str:
    ids = [p.id for p in providers]
    chosen = env.get("DEFAULT_PROVIDER", "").strip().lower()
    if chosen:
        if chosen not in ids:
            raise ConfigError(f"DEFAULT_PROVIDER must be one of: {', '.join(ids)}.")
        return chosen
    # Open on a provider that works without asking the visitor for anything, when there is one.
    return next((pid for pid in ids if pid in server_keys), ids[0])
