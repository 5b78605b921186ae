"""The settings that guard the server's keys and its machine: the access gate and whom to trust for
a client's address, the browser boundary (origins, hosts, frames), quotas and spend limits, and the
caps on uploads. Each returns its part of :class:`~config.settings.Settings` as keyword values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from errors import ConfigError

from .network import TrustedProxies, normalise_origin
from .prices import parse_spend_limits
from .secret import Secret
from .storage import CounterStore, describe_storage
from .variables import flag, limits, names, number, whole

# Megabytes one client address may upload: bounds the disk a visitor can fill.
DEFAULT_UPLOAD_LIMIT_MB = "200/hour;1000/day"


def attachment_settings(env: Mapping[str, str]) -> dict[str, Any]:
    image_mb = number(env, "MAX_IMAGE_MB", 10.0, low=0.1, high=100)
    # By default the upload cap is the image cap: nothing bigger than a file we would accept
    # is ever written to disk.
    upload_mb = number(env, "MAX_UPLOAD_MB", image_mb, low=0.1, high=1000)
    if upload_mb < image_mb:
        raise ConfigError("MAX_UPLOAD_MB must be at least MAX_IMAGE_MB: larger images could never be uploaded.")
    files = int(number(env, "MAX_FILES_PER_MESSAGE", 4, low=0, high=20))
    upload_limit = limits(env, "UPLOAD_LIMIT_MB", DEFAULT_UPLOAD_LIMIT_MB, example="200/hour or 200/hour;1000/day")
    return {
        "max_image_mb": image_mb,
        "max_upload_mb": upload_mb,
        "max_files_per_message": files,
        "upload_limit_mb": upload_limit,
    }


def gate_settings(env: Mapping[str, str]) -> dict[str, Any]:
    codes = tuple(c.strip() for c in env.get("ACCESS_CODE", "").split(",") if c.strip())
    if any(len(code) < 8 for code in codes):
        raise ConfigError("ACCESS_CODE: every code must be at least 8 characters (use a long random phrase).")
    return {
        "access_codes": tuple(Secret(code) for code in codes),
        "access_code_byo_exempt": flag(env, "ACCESS_CODE_BYO_EXEMPT", default=False),
        "allowed_hf_users": names(env, "ALLOWED_HF_USERS"),
        "allowed_hf_orgs": names(env, "ALLOWED_HF_ORGS"),
        **_trusted_proxies(env),
        "allow_custom_base_url": flag(env, "ALLOW_CUSTOM_BASE_URL", default=False),
        "allow_local_base_url": flag(env, "ALLOW_LOCAL_BASE_URL", default=False),
    }


def is_gated(gate: Mapping[str, Any]) -> bool:
    return bool(gate["access_codes"] or gate["allowed_hf_users"] or gate["allowed_hf_orgs"])


# A server key with nobody guarding it gets these unless the operator says otherwise.
DEFAULT_OPEN_RATE_LIMIT = "10/minute;200/day"


DEFAULT_OPEN_DAILY_TOKENS = 200_000


def quota_settings(env: Mapping[str, str], *, has_server_keys: bool, gated: bool) -> dict[str, Any]:
    open_defaults = has_server_keys and not gated
    default = DEFAULT_OPEN_RATE_LIMIT if open_defaults else ""
    rate_limit = limits(env, "RATE_LIMIT", default, example="10/minute or 10/minute;200/day")
    tokens_raw = env.get("DAILY_TOKEN_LIMIT", "").strip()
    if tokens_raw:
        daily_tokens: int | None = whole(env, "DAILY_TOKEN_LIMIT", 0, low=0, high=10**12) or None
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
        per_client = number({"DAILY_SPEND_LIMIT": daily}, "DAILY_SPEND_LIMIT", 0.0, low=0, high=100_000) or None
    everyone = env.get("SPEND_LIMIT", "").strip()
    windows = () if everyone.lower() in {"", "off", "none", "0"} else parse_spend_limits("SPEND_LIMIT", everyone)
    return {"daily_spend_limit": per_client, "spend_limit": windows}


# Where a Hugging Face Space is shown: the Hub's page frames the app from this origin.
HUB_ORIGIN = "https://huggingface.co"


def boundary_settings(env: Mapping[str, str]) -> dict[str, Any]:
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
    hosts = names(env, name)
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
