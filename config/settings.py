"""The operator's configuration, read once from the environment and an optional ``.env``.

The environment wins over ``.env``. ``.env`` is read without copying it into ``os.environ``: keys
stay out of the environment that child processes and the openai SDK's fallbacks read.
Every malformed value stops start-up with a :class:`ConfigError` that names the variable and the
fix, and never quotes the value of a key variable.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from errors import ConfigError
from providers.registry import CUSTOM_ID, PROVIDERS, VISITOR_ENDPOINT, Provider

from .network import TrustedProxies, normalise_origin
from .prices import ModelPrice, SpendWindow, parse_model_prices, parse_spend_limits
from .secret import KEY_SHAPE, Secret
from .storage import CounterStore, describe_storage, parse_rate_limits

__all__ = ["Settings", "load_settings"]

# The openai SDK reads these itself and would attach them to requests for *every* provider.
_SDK_AMBIENT = ("OPENAI_CUSTOM_HEADERS", "OPENAI_ADMIN_KEY")
_MODEL_NAME = re.compile(r"[\x21-\x7e]{1,200}")
# Megabytes one client address may upload: bounds the disk a visitor can fill.
DEFAULT_UPLOAD_LIMIT_MB = "200/hour;1000/day"


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
    if _flag(env, "ALLOW_CUSTOM_BASE_URL", default=False):
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
    gate = _gate_settings(env)
    return Settings(
        **gate,
        **_boundary_settings(env),
        **_quota_settings(env, has_server_keys=bool(server_keys or operator_servers), gated=_is_gated(gate)),
        operator_servers=operator_servers,
        providers=providers,
        server_keys=server_keys,
        default_provider=default_provider,
        default_model=default_model,
        system_prompt=env.get("SYSTEM_PROMPT", "You are a helpful assistant."),
        request_timeout=_number(env, "REQUEST_TIMEOUT", 60.0, low=1, high=3600),
        max_reply_seconds=_number(env, "MAX_REPLY_SECONDS", 600.0, low=1, high=86_400),
        max_message_chars=_whole(env, "MAX_MESSAGE_CHARS", 16_000, low=100, high=1_000_000),
        max_history_messages=_whole(env, "MAX_HISTORY_MESSAGES", 40, low=0, high=1000),
        max_output_tokens=_whole(env, "MAX_OUTPUT_TOKENS", 8192, low=16, high=1_000_000),
        concurrency_limit=_whole(env, "CONCURRENCY_LIMIT", 200, low=1, high=10_000),
        max_chats_per_client=_whole(env, "MAX_CHATS_PER_CLIENT", 8, low=1, high=10_000),
        queue_max_size=_whole(env, "QUEUE_MAX_SIZE", 400, low=1, high=100_000),
        **_attachment_settings(env),
        analytics=env.get("GRADIO_ANALYTICS_ENABLED", "").strip().lower() in {"1", "true", "yes"},
        model_list_ttl=_number(env, "MODEL_LIST_TTL", 3600.0, low=0, high=7 * 86_400),
        allowed_models=_allowed_models(env, providers),
        model_prices=parse_model_prices(env.get("MODEL_PRICES", ""), (p.id for p in providers)),
        save_history=_flag(env, "SAVE_HISTORY", default=False),
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


def _attachment_settings(env: Mapping[str, str]) -> dict[str, Any]:
    image_mb = _number(env, "MAX_IMAGE_MB", 10.0, low=0.1, high=100)
    # By default the upload cap is the image cap: nothing bigger than a file we would accept
    # is ever written to disk.
    upload_mb = _number(env, "MAX_UPLOAD_MB", image_mb, low=0.1, high=1000)
    if upload_mb < image_mb:
        raise ConfigError("MAX_UPLOAD_MB must be at least MAX_IMAGE_MB: larger images could never be uploaded.")
    files = int(_number(env, "MAX_FILES_PER_MESSAGE", 4, low=0, high=20))
    upload_limit = _limits(env, "UPLOAD_LIMIT_MB", DEFAULT_UPLOAD_LIMIT_MB, example="200/hour or 200/hour;1000/day")
    return {
        "max_image_mb": image_mb,
        "max_upload_mb": upload_mb,
        "max_files_per_message": files,
        "upload_limit_mb": upload_limit,
    }


def _gate_settings(env: Mapping[str, str]) -> dict[str, Any]:
    codes = tuple(c.strip() for c in env.get("ACCESS_CODE", "").split(",") if c.strip())
    if any(len(code) < 8 for code in codes):
        raise ConfigError("ACCESS_CODE: every code must be at least 8 characters (use a long random phrase).")
    return {
        "access_codes": tuple(Secret(code) for code in codes),
        "access_code_byo_exempt": _flag(env, "ACCESS_CODE_BYO_EXEMPT", default=False),
        "allowed_hf_users": _names(env, "ALLOWED_HF_USERS"),
        "allowed_hf_orgs": _names(env, "ALLOWED_HF_ORGS"),
        **_trusted_proxies(env),
        "allow_custom_base_url": _flag(env, "ALLOW_CUSTOM_BASE_URL", default=False),
        "allow_local_base_url": _flag(env, "ALLOW_LOCAL_BASE_URL", default=False),
    }


def _is_gated(gate: Mapping[str, Any]) -> bool:
    return bool(gate["access_codes"] or gate["allowed_hf_users"] or gate["allowed_hf_orgs"])


# A server key with nobody guarding it gets these unless the operator says otherwise.
DEFAULT_OPEN_RATE_LIMIT = "10/minute;200/day"
DEFAULT_OPEN_DAILY_TOKENS = 200_000


def _quota_settings(env: Mapping[str, str], *, has_server_keys: bool, gated: bool) -> dict[str, Any]:
    open_defaults = has_server_keys and not gated
    default = DEFAULT_OPEN_RATE_LIMIT if open_defaults else ""
    rate_limit = _limits(env, "RATE_LIMIT", default, example="10/minute or 10/minute;200/day")
    tokens_raw = env.get("DAILY_TOKEN_LIMIT", "").strip()
    if tokens_raw:
        daily_tokens: int | None = _whole(env, "DAILY_TOKEN_LIMIT", 0, low=0, high=10**12) or None
    else:
        daily_tokens = DEFAULT_OPEN_DAILY_TOKENS if open_defaults else None
    storage = env.get("RATE_LIMIT_STORAGE", "").strip() or "memory://"
    try:
        store = CounterStore(storage)
    except Exception:  # noqa: BLE001 - any failure here is the operator's URI; say so plainly
        raise ConfigError(
            "RATE_LIMIT_STORAGE must be memory:// or a storage URI such as redis://host:6379 "
            "that the limits library supports."
        ) from None
    # A well-formed URI to a store that is not there would fail every chat later: find out now.
    # The message names the host and port only; the URI may hold a password.
    if not store.ping():
        raise ConfigError(
            f"RATE_LIMIT_STORAGE: the counter store at {describe_storage(storage)} does not answer. Start it, "
            f"correct the address or password, or unset RATE_LIMIT_STORAGE to count in memory (one process)."
        )
    return {
        "rate_limit": rate_limit,
        "daily_token_limit": daily_tokens,
        "rate_limit_storage": storage,
        **_spend_settings(env),
    }


def _spend_settings(env: Mapping[str, str]) -> dict[str, Any]:
    # "0", "off" or unset: no limit. A leading "$" is what people write.
    daily = env.get("DAILY_SPEND_LIMIT", "").strip().lstrip("$")
    per_client = None
    if daily.lower() not in {"", "off", "none"}:
        per_client = _number({"DAILY_SPEND_LIMIT": daily}, "DAILY_SPEND_LIMIT", 0.0, low=0, high=100_000) or None
    everyone = env.get("SPEND_LIMIT", "").strip()
    windows = () if everyone.lower() in {"", "off", "none", "0"} else parse_spend_limits("SPEND_LIMIT", everyone)
    return {"daily_spend_limit": per_client, "spend_limit": windows}


# Where a Hugging Face Space is shown: the Hub's page frames the app from this origin.
HUB_ORIGIN = "https://huggingface.co"


def _boundary_settings(env: Mapping[str, str]) -> dict[str, Any]:
    allowed = _origins(env, "ALLOWED_ORIGINS")
    ancestors = _origins(env, "FRAME_ANCESTORS")
    space_host = env.get("SPACE_HOST", "").strip().lower() or None
    if space_host is not None and normalise_origin(f"https://{space_host}") is None:
        raise ConfigError("SPACE_HOST must be a host name such as owner-space.hf.space.")
    if env.get("SPACE_ID", "").strip():
        ancestors = (HUB_ORIGIN, *ancestors)
    if space_host:
        # The Hub's proxy may not pass on the scheme; the Space's own origin is always https.
        allowed = (f"https://{space_host}", *allowed)
    return {
        "allowed_origins": frozenset(allowed),
        "frame_ancestors": tuple(dict.fromkeys(ancestors)),
        "space_host": space_host,
        "allowed_hosts": _hosts(env, "ALLOWED_HOSTS"),
    }


_HOST_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _hosts(env: Mapping[str, str], name: str) -> frozenset[str]:
    hosts = _names(env, name)
    if hosts != {"*"} and not all(_HOST_NAME.fullmatch(host) for host in hosts):
        raise ConfigError(
            f"{name} must be comma-separated host names such as chat.example.org (no scheme, port or path), or *."
        )
    return hosts


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    origins = []
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        origin = normalise_origin(item)
        if origin is None:
            raise ConfigError(f"{name} must be a comma-separated list of origins such as https://example.com.")
        origins.append(origin)
    return tuple(origins)


def _names(env: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in env.get(name, "").split(",") if n.strip())


def on_a_space(env: Mapping[str, str]) -> bool:
    """The Hub sets SPACE_ID and SPACE_HOST in every Space ("Helper environment variables",
    https://huggingface.co/docs/hub/spaces-overview#helper-environment-variables). Both must be
    there: one variable left in someone's shell must not make a laptop trust forwarded headers."""
    return bool(env.get("SPACE_ID", "").strip() and env.get("SPACE_HOST", "").strip())


def _trusted_proxies(env: Mapping[str, str]) -> dict[str, Any]:
    on_space = on_a_space(env)
    explicit = "TRUSTED_PROXIES" in env
    # On a Space every visitor arrives through the Hub's proxy, which appends the visitor's address
    # to X-Forwarded-For: trust exactly that one hop, or every visitor would share one quota and
    # one access-code throttle. An explicit TRUSTED_PROXIES, even empty, wins.
    spec = env.get("TRUSTED_PROXIES", "").strip() if explicit or not on_space else "*"
    try:
        TrustedProxies(spec)
    except ValueError:
        raise ConfigError(
            "TRUSTED_PROXIES must be * or a comma-separated list of addresses or networks, "
            "such as 127.0.0.1,10.0.0.0/8."
        ) from None
    return {"trusted_proxies": spec, "on_space": on_space, "trusted_proxies_set": explicit}


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
        needs_key=_flag(env, "CUSTOM_NEEDS_KEY", default=True),
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


def _limits(env: Mapping[str, str], name: str, default: str, *, example: str) -> str:
    """A limits string ("10/minute;200/day"): unset gives ``default``, off/none/0 gives "" (none)."""
    value = env.get(name, "").strip() or default
    if value.lower() in {"off", "none", "0"}:
        return ""
    try:
        parse_rate_limits(value)
    except ValueError:
        raise ConfigError(f"{name} must look like {example} (or off).") from None
    return value


def _whole(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (low <= value <= high and value.is_integer()):
        # Written out with separators: "{:g}" turned 1,000,000 into "1e+06".
        raise ConfigError(f"{name} must be a whole number from {low:,} to {high:,}.")
    return int(value)


def _number(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}.")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false.")
