"""Per-client quotas on the server's keys, and usage counts, in memory or in a shared store.

Counting uses the ``limits`` library: its storages (memory, Redis, Valkey, memcached...) are
atomic per hit, so a limit holds under parallel requests and across replicas that share a store
(``RATE_LIMIT_STORAGE=redis://...``). Writing that ourselves would mean writing the Lua scripts
too.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from .errors import QuotaExceeded, TooManyChecks

__all__ = ["Quotas", "UsageToday", "describe_limits", "open_storage", "parse_rate_limits"]

_USAGE_TTL = 2 * 24 * 3600
# Key checks and visitor model-list fetches answer "does this key work?" for free: without a
# limit the page would be an oracle for testing stolen keys. RATE_LIMIT replaces this when set.
DEFAULT_CHECK_LIMIT = "10/minute;100/day"


def open_storage(uri: str) -> Storage:
    return storage_from_string(uri)


def parse_rate_limits(spec: str) -> list[RateLimitItem]:
    return parse_many(spec) if spec.strip() else []


@dataclass(frozen=True, slots=True)
class UsageToday:
    requests: int
    tokens: int
    token_limit: int | None


class Quotas:
    """``admit`` before spending a server key, ``record`` after every chat."""

    def __init__(
        self,
        storage: Storage,
        *,
        rate_limits: list[RateLimitItem],
        daily_tokens: int | None,
        check_limits: list[RateLimitItem] | None = None,
    ) -> None:
        self._storage = storage
        self._requests = MovingWindowRateLimiter(storage)
        self._tokens = FixedWindowRateLimiter(storage)
        self.rate_limits = rate_limits
        self.daily_tokens = RateLimitItemPerDay(daily_tokens) if daily_tokens else None
        self.check_limits = parse_rate_limits(DEFAULT_CHECK_LIMIT) if check_limits is None else check_limits

    def admit_check(self, client: str) -> None:
        """Count one key check (or model-list fetch with a visitor's key), or raise TooManyChecks."""
        for item in self.check_limits:
            if not self._requests.hit(item, "checks", client):
                raise TooManyChecks(retry_after=self._reset_in(self._requests, item, client, kind="checks"))

    def admit(self, client: str) -> None:
        """Count one request on a server key, or raise QuotaExceeded. Atomic per limit."""
        if self.daily_tokens is not None and not self._tokens.test(self.daily_tokens, "tokens", client):
            raise QuotaExceeded(
                "your tokens for today", retry_after=self._reset_in(self._tokens, self.daily_tokens, client)
            )
        for item in self.rate_limits:
            if not self._requests.hit(item, "requests", client):
                raise QuotaExceeded(
                    f"your requests ({_per(item)})", retry_after=self._reset_in(self._requests, item, client)
                )

    def charge(self, client: str, tokens: int) -> None:
        # The reply is already streamed; the count still goes up, so the next request is refused.
        if self.daily_tokens is not None and tokens > 0:
            self._tokens.hit(self.daily_tokens, "tokens", client, cost=tokens)

    def record(self, client: str, provider_id: str, tokens: int) -> None:
        day = _today()
        for scope in (provider_id, "*"):
            self._storage.incr(f"byok/usage/{day}/{client}/{scope}/requests", _USAGE_TTL)
            if tokens > 0:
                self._storage.incr(f"byok/usage/{day}/{client}/{scope}/tokens", _USAGE_TTL, amount=tokens)

    def usage_today(self, client: str, provider_id: str = "*") -> UsageToday:
        day = _today()
        return UsageToday(
            requests=self._storage.get(f"byok/usage/{day}/{client}/{provider_id}/requests"),
            tokens=self._storage.get(f"byok/usage/{day}/{client}/{provider_id}/tokens"),
            token_limit=self.daily_tokens.amount if self.daily_tokens else None,
        )

    @staticmethod
    def _reset_in(
        limiter: FixedWindowRateLimiter | MovingWindowRateLimiter, item: RateLimitItem, client: str, kind: str = ""
    ) -> float:
        kind = kind or ("tokens" if isinstance(limiter, FixedWindowRateLimiter) else "requests")
        return max(1.0, limiter.get_window_stats(item, kind, client).reset_time - time.time())


def _per(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return f"{item.amount:,} per {unit}" if item.multiples == 1 else f"{item.amount:,} per {item.multiples} {unit}s"


def _today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def describe_limits(quotas: Quotas) -> str:
    """The limits in force on server keys, for people: "10 per minute, 200 per day, 200,000 tokens
    per day", or "" when there are none."""
    parts = [_per(item) for item in quotas.rate_limits]
    if quotas.daily_tokens is not None:
        parts.append(f"{quotas.daily_tokens.amount:,} tokens per day")
    return ", ".join(parts)
