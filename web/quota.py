"""Per-client quotas on the server's keys, and usage counts, in memory or in a shared store.

Counting uses the ``limits`` library: its storages (memory, Redis, Valkey, memcached...) are
atomic per hit, so a limit holds under parallel requests and across replicas that share a store
(``RATE_LIMIT_STORAGE=redis://...``). Writing that ourselves would mean writing the Lua scripts
too.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from config.storage import CounterStore, parse_rate_limits
from errors import CounterUnavailable, QuotaExceeded, TooManyChecks, TooManyUploads
from words import ENGLISH, Phrase, Rate, say

__all__ = [
    "Quotas",
    "UsageToday",
    "describe_limit",
    "describe_limits",
    "limit_rate",
]

log = logging.getLogger("byok_chat.counter")

_USAGE_TTL = 2 * 24 * 3600
# Key checks and visitor model-list fetches answer "does this key work?" for free: without a
# limit the page would be an oracle for testing stolen keys. RATE_LIMIT replaces this when set.
DEFAULT_CHECK_LIMIT = "10/minute;100/day"


@dataclass(frozen=True, slots=True)
class UsageToday:
    requests: int
    tokens: int
    token_limit: int | None
    # US dollars of the chats that could be priced, on any key.
    dollars: float = 0.0
    # False while the counter store is down: the counts above are then unknown, not zero.
    available: bool = True


class Quotas:
    """``admit`` before spending a server key, ``record`` after every chat."""

    def __init__(
        self,
        store: CounterStore,
        *,
        rate_limits: list[RateLimitItem],
        daily_tokens: int | None,
        check_limits: list[RateLimitItem] | None = None,
        upload_limits_mb: list[RateLimitItem] | None = None,
    ) -> None:
        self._store = store
        self._storage = store.storage
        self._requests = MovingWindowRateLimiter(store.storage)
        self._tokens = FixedWindowRateLimiter(store.storage)
        self.rate_limits = rate_limits
        self.daily_tokens = RateLimitItemPerDay(daily_tokens) if daily_tokens else None
        self.check_limits = parse_rate_limits(DEFAULT_CHECK_LIMIT) if check_limits is None else check_limits
        self.upload_limits_mb = upload_limits_mb or []

    def admit_check(self, client: str) -> None:
        """Count one key check (or model-list fetch with a visitor's key), or raise TooManyChecks
        (or CounterUnavailable: unthrottled checks would make the page a stolen-key tester)."""
        self._store.run(lambda: self._admit_check(client))

    def _admit_check(self, client: str) -> None:
        for item in self.check_limits:
            if not self._requests.hit(item, "checks", client):
                raise TooManyChecks(retry_after=self._reset_in(self._requests, item, client, kind="checks"))

    def checks_left(self, client: str) -> None:
        """Raise TooManyChecks when the client has no key checks left, counting nothing: a chat on
        a visitor's key that fails on the key or the model is a key check too."""
        self._store.run(lambda: self._checks_left(client))

    def _checks_left(self, client: str) -> None:
        for item in self.check_limits:
            if not self._requests.test(item, "checks", client):
                raise TooManyChecks(retry_after=self._reset_in(self._requests, item, client, kind="checks"))

    def admit_upload(self, client: str, size: int) -> None:
        """Count an upload of ``size`` bytes, or raise TooManyUploads (or CounterUnavailable:
        uploads nobody counts could fill the server's disk)."""
        if self.upload_limits_mb:
            self._store.run(lambda: self._admit_upload(client, size))

    def _admit_upload(self, client: str, size: int) -> None:
        # Counted in kilobytes on fixed windows: a counter per window, whatever the size (a
        # moving window keeps one entry per unit counted).
        kilobytes = max(1, math.ceil(size / 1000))
        windows = [(item, type(item)(item.amount * 1000, item.multiples)) for item in self.upload_limits_mb]
        # All windows are tested before any is counted: a refused upload uses up nothing.
        for item, in_kb in windows:
            if not self._tokens.test(in_kb, "uploads", client, cost=kilobytes):
                wait = self._tokens.get_window_stats(in_kb, "uploads", client).reset_time - time.time()
                raise TooManyUploads(limit_rate(item, " MB"), retry_after=max(1.0, wait))
        for _, in_kb in windows:
            self._tokens.hit(in_kb, "uploads", client, cost=kilobytes)

    def admit(self, client: str) -> None:
        """Count one request on a server key, or raise QuotaExceeded or CounterUnavailable."""
        self._store.run(lambda: self._admit(client))

    def has_room(self, client: str) -> None:
        """Raise QuotaExceeded (or CounterUnavailable) when ``admit`` would, counting nothing: a
        chat that something else refuses afterwards must not have used up a request."""
        self._store.run(lambda: self._admit(client, count=False))

    def charge(self, client: str, tokens: int) -> None:
        self._store.run(lambda: self._charge(client, tokens))

    def record(self, client: str, provider_id: str, tokens: int, dollars: float = 0.0) -> None:
        self._store.run(lambda: self._record(client, provider_id, tokens, dollars))

    def usage_today(self, client: str, provider_id: str = "*") -> UsageToday:
        """Never raises: while the store is down the answer says so (``available=False``)."""
        try:
            return self._store.run(lambda: self._usage_today(client, provider_id))
        except CounterUnavailable:
            limit = self.daily_tokens.amount if self.daily_tokens else None
            return UsageToday(requests=0, tokens=0, token_limit=limit, available=False)

    def _admit(self, client: str, *, count: bool = True) -> None:
        if self.daily_tokens is not None and not self._tokens.test(self.daily_tokens, "tokens", client):
            raise QuotaExceeded(
                Phrase("quota_tokens_today"), retry_after=self._reset_in(self._tokens, self.daily_tokens, client)
            )
        for item in self.rate_limits:
            allowed = self._requests.hit if count else self._requests.test
            if not allowed(item, "requests", client):
                raise QuotaExceeded(
                    Phrase("quota_requests", {"limit": limit_rate(item)}),
                    retry_after=self._reset_in(self._requests, item, client),
                )

    def _charge(self, client: str, tokens: int) -> None:
        # The reply is already streamed; the count still goes up, so the next request is refused.
        if self.daily_tokens is not None and tokens > 0:
            self._tokens.hit(self.daily_tokens, "tokens", client, cost=tokens)

    def _record(self, client: str, provider_id: str, tokens: int, dollars: float) -> None:
        day = _today()
        # Millionths of a dollar: the stores count whole numbers.
        micros = math.ceil(dollars * 1_000_000)
        for scope in (provider_id, "*"):
            self._storage.incr(f"byok/usage/{day}/{client}/{scope}/requests", _USAGE_TTL)
            if tokens > 0:
                self._storage.incr(f"byok/usage/{day}/{client}/{scope}/tokens", _USAGE_TTL, amount=tokens)
            if micros > 0:
                self._storage.incr(f"byok/usage/{day}/{client}/{scope}/micros", _USAGE_TTL, amount=micros)

    def _usage_today(self, client: str, provider_id: str) -> UsageToday:
        day = _today()
        return UsageToday(
            requests=self._storage.get(f"byok/usage/{day}/{client}/{provider_id}/requests"),
            tokens=self._storage.get(f"byok/usage/{day}/{client}/{provider_id}/tokens"),
            token_limit=self.daily_tokens.amount if self.daily_tokens else None,
            dollars=self._storage.get(f"byok/usage/{day}/{client}/{provider_id}/micros") / 1_000_000,
        )

    @staticmethod
    def _reset_in(
        limiter: FixedWindowRateLimiter | MovingWindowRateLimiter, item: RateLimitItem, client: str, kind: str = ""
    ) -> float:
        kind = kind or ("tokens" if isinstance(limiter, FixedWindowRateLimiter) else "requests")
        return max(1.0, limiter.get_window_stats(item, kind, client).reset_time - time.time())


def describe_limit(item: RateLimitItem, counted: str = "") -> str:
    """ "10 per minute"; with ``counted`` " MB", "200 MB per hour". In English, for the operator."""
    return limit_rate(item, counted).in_language(ENGLISH)


def limit_rate(item: RateLimitItem, counted: str = "") -> Rate:
    """A limit for a visitor, said in their language."""
    return Rate(f"{item.amount:,}{counted}", item.GRANULARITY.name, item.multiples)


def _today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def describe_limits(quotas: Quotas, language: str = ENGLISH) -> str:
    """The limits in force on server keys, for people: "10 per minute, 200 per day, 200,000 tokens
    per day", or "" when there are none."""
    parts = [limit_rate(item).in_language(language) for item in quotas.rate_limits]
    if quotas.daily_tokens is not None:
        tokens = say(language, "tokens_amount", count=f"{quotas.daily_tokens.amount:,}")
        parts.append(Rate(tokens, "day").in_language(language))
    return say(language, "list_separator").join(parts)
