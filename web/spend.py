"""Spend limits in US dollars on the server's keys: per client per day (``DAILY_SPEND_LIMIT``) and for
everyone together (``SPEND_LIMIT``), counted in the counter store so replicas share them.

Admission reserves a reply's worst case (its prompt and ``max_tokens`` at the model's price) before
anything is sent; the reply's end settles the reservation at the real cost. The counter is added to
and read in one atomic step; a reply is admitted while what was spent and held before it is under
the limit, else its reservation is taken back at once. So however many replies arrive together,
they pass a limit by at most one reply's worst case.

Amounts are counted in millionths of a dollar (the stores count whole numbers). Windows are
calendar periods in UTC (the day starts at midnight UTC), and a reply settles in the window it was
admitted in, even when it ends after midnight.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from config.prices import SpendWindow
from config.storage import CounterStore
from errors import SpendLimitReached
from words import ENGLISH, Rate, say

__all__ = ["NO_RESERVATION", "Reservation", "Spend", "SpentToday", "window_rate"]

MICRO = 1_000_000
# Counters outlive their window by this much: a reply admitted just before midnight settles after it.
_GRACE_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one admitted reply holds: its worst case, on the counters it was admitted against (each
    with the moment, in epoch seconds, its window's counter may be dropped)."""

    micros: int
    counters: tuple[tuple[str, float], ...]


NO_RESERVATION = Reservation(0, ())


@dataclass(frozen=True, slots=True)
class SpentToday:
    """US dollars spent on server keys: this client's today, and everyone's per window."""

    client: float
    client_limit: float | None
    everyone: tuple[tuple[SpendWindow, float], ...]


class Spend:
    def __init__(
        self, store: CounterStore, *, daily_per_client: float | None, everyone: tuple[SpendWindow, ...]
    ) -> None:
        self._store = store
        self._storage = store.storage
        self.daily_per_client = daily_per_client
        self.everyone = everyone

    @property
    def limited(self) -> bool:
        return self.daily_per_client is not None or bool(self.everyone)

    def limits(self, language: str = ENGLISH) -> list[str]:
        """The limits in force, for people: "$0.25 per day per client", "$5.00 per day for everyone"."""
        own = (
            [say(language, "spend_per_client", limit=Rate(f"${self.daily_per_client:,.2f}", "day"))]
            if self.daily_per_client is not None
            else []
        )
        return own + [say(language, "spend_for_everyone", limit=window_rate(window)) for window in self.everyone]

    def reserve(self, client: str, dollars: float) -> Reservation:
        """Hold ``dollars`` against every limit, or raise SpendLimitReached (or CounterUnavailable:
        spending nobody counts is what the limits are there to stop)."""
        if not self.limited:
            return NO_RESERVATION
        return self._store.run(lambda: self._reserve(client, _micros(dollars)))

    def settle(self, reservation: Reservation, dollars: float) -> None:
        """Replace the reservation with the real cost."""
        delta = _micros(dollars) - reservation.micros
        if reservation.counters and delta:
            self._store.run(lambda: self._adjust(reservation.counters, delta))

    def spent_today(self, client: str) -> SpentToday:
        """Raises CounterUnavailable while the store is down."""
        return self._store.run(lambda: self._spent_today(client))

    def _reserve(self, client: str, micros: int) -> Reservation:
        now = dt.datetime.now(dt.UTC)
        held: list[tuple[str, float]] = []
        for key, limit, window, everyone in self._counters(client, now):
            ends = _window_end(now, window.period)
            counter = (key, ends.timestamp() + _GRACE_SECONDS)
            before = self._storage.incr(key, _ttl(counter), amount=micros) - micros
            held.append(counter)
            # Admitted while what is spent and held is under the limit: a limit smaller than one
            # reply's worst case still serves one reply at a time.
            if before >= limit:
                self._adjust(tuple(held), -micros)
                raise SpendLimitReached(
                    window_rate(window) if everyone else Rate(f"${self.daily_per_client:,.2f}", "day"),
                    everyone=everyone,
                    retry_after=max(1.0, (ends - now).total_seconds()),
                    resets_at=_when(ends, now),
                )
        return Reservation(micros, tuple(held))

    def _adjust(self, counters: tuple[tuple[str, float], ...], delta: int) -> None:
        for counter in counters:
            self._storage.incr(counter[0], _ttl(counter), amount=delta)

    def _counters(self, client: str, now: dt.datetime) -> list[tuple[str, int, SpendWindow, bool]]:
        counters = []
        if self.daily_per_client is not None:
            window = SpendWindow(self.daily_per_client, "day")
            counters.append((_key(f"client/{client}", window, now), _micros(window.dollars), window, False))
        for window in self.everyone:
            counters.append((_key("everyone", window, now), _micros(window.dollars), window, True))
        return counters

    def _spent_today(self, client: str) -> SpentToday:
        now = dt.datetime.now(dt.UTC)
        mine = self._storage.get(_key(f"client/{client}", SpendWindow(0, "day"), now))
        everyone = tuple((w, max(0, self._storage.get(_key("everyone", w, now))) / MICRO) for w in self.everyone)
        return SpentToday(max(0, mine) / MICRO, self.daily_per_client, everyone)


def _ttl(counter: tuple[str, float]) -> int:
    """Seconds the counter must live: to its window's end and past it by the grace. The stores set
    it when a counter is created."""
    return max(60, math.ceil(counter[1] - dt.datetime.now(dt.UTC).timestamp()))


def _micros(dollars: float) -> int:
    # Rounded up: a limit must never lose a fraction of a millionth a reply at a time.
    return max(0, math.ceil(dollars * MICRO))


def _key(scope: str, window: SpendWindow, now: dt.datetime) -> str:
    start = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}[window.period]
    return f"byok/spend/{scope}/{window.period}/{now.strftime(start)}"


def _window_end(now: dt.datetime, period: str) -> dt.datetime:
    if period == "hour":
        return now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day + dt.timedelta(days=1)
    first = day.replace(day=1)
    return first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)


def window_rate(window: SpendWindow) -> Rate:
    """ "$5.00 per day", said in the visitor's language."""
    return Rate(f"${window.dollars:,.2f}", window.period)


def _when(ends: dt.datetime, now: dt.datetime) -> str:
    """ "00:00 UTC", or "00:00 UTC on 1 January" when it is not today."""
    same_day = ends - now < dt.timedelta(days=1) and ends.date() in (now.date(), now.date() + dt.timedelta(days=1))
    return ends.strftime("%H:%M UTC") if same_day else ends.strftime("%H:%M UTC on %-d %B")
