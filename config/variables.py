"""How one configuration variable is read: a number in its range, a flag, a list of names, a
limits string. Each malformed value is a :class:`ConfigError` that names the variable and the fix,
and never quotes the value."""

from __future__ import annotations

import math
from collections.abc import Mapping

from errors import ConfigError

from .storage import parse_rate_limits


def _float(env: Mapping[str, str], name: str) -> float | None:
    """None when unset; NaN when not a number, which every range check then refuses."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return math.nan


def whole(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    value = _float(env, name)
    if value is None:
        return default
    if not (low <= value <= high and value.is_integer()):
        # Written out with separators: "{:g}" turned 1,000,000 into "1e+06".
        raise ConfigError(f"{name} must be a whole number from {low:,} to {high:,}.")
    return int(value)


def number(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    value = _float(env, name)
    if value is None:
        return default
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}.")
    return value


def flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false.")


def limits(env: Mapping[str, str], name: str, default: str, *, example: str) -> str:
    """A limits string ("10/minute;200/day"): unset gives ``default``, off/none/0 gives "" (none)."""
    value = env.get(name, "").strip() or default
    if value.lower() in {"off", "none", "0"}:
        return ""
    try:
        parse_rate_limits(value)
    except ValueError:
        raise ConfigError(f"{name} must look like {example} (or off).") from None
    return value


def names(env: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(n.strip().lower() for n in env.get(name, "").split(",") if n.strip())
