"""The counter store named by ``RATE_LIMIT_STORAGE`` (memory, Redis, Valkey, memcached...): how it
is opened and described without its password, how limit strings like ``RATE_LIMIT`` are parsed, and
the one wrapper every call to it goes through, with the outage rules: one warning when it stops
answering, one line when it is back, and between the two every call fails fast with
:class:`~errors.CounterUnavailable` instead of waiting on a dead store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string

from errors import CounterUnavailable

__all__ = ["RETRY_SECONDS", "CounterStore", "describe_storage", "open_storage", "parse_rate_limits"]

log = logging.getLogger("byok_chat.counter")

# While the store is down, ask it again at most this often; in between, fail at once. Every
# call to it blocks the caller, and chats on server keys are refused either way.
RETRY_SECONDS = 2.0
# A store that does not answer within this long counts as down (redis-py waits forever by default).
_REDIS_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
_T = TypeVar("_T")


def open_storage(uri: str) -> Storage:
    options: dict[str, float | bool] = {"wrap_exceptions": True}
    if urlsplit(uri).scheme in {"redis", "rediss", "redis+unix"}:
        options.update(_REDIS_TIMEOUTS)
    return storage_from_string(uri, **options)


def describe_storage(uri: str) -> str:
    """The store's address for messages: scheme, host and port, never a user name or password."""
    parts = urlsplit(uri)
    if parts.scheme == "memory":
        return "memory://"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


class CounterStore:
    """The store behind quotas, usage counts and the gate's guess throttle, and whether it answers.

    A failing store must not become a traceback per call or an error in a finished reply: every
    call goes through :meth:`run`, which turns the store's exceptions into
    :class:`CounterUnavailable`, logs one warning when an outage starts and one line when it ends,
    and recovers by itself.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.storage = open_storage(uri)
        # The memory store cannot go down; its ValueErrors would be our bugs, not outages.
        base = () if isinstance(self.storage, MemoryStorage) else self.storage.base_exceptions
        self._errors: tuple[type[BaseException], ...] = (
            StorageError,
            *(base if isinstance(base, tuple) else (base,)),
        )
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0
        self._skipped = 0

    @property
    def available(self) -> bool:
        return self._down_since is None

    def ping(self) -> bool:
        return bool(self.storage.check())

    def run(self, operation: Callable[[], _T]) -> _T:
        if self._down_since is not None and time.monotonic() < self._next_try:
            raise CounterUnavailable()
        answered = True
        try:
            return operation()
        except self._errors as error:
            answered = False
            self._went_down(error)
            raise CounterUnavailable() from None
        finally:
            # Any other outcome (a result, QuotaExceeded) means the store answered.
            if answered and self._down_since is not None:
                self._came_back()

    def note_skipped(self) -> None:
        with self._lock:
            self._skipped += 1

    def _went_down(self, error: BaseException) -> None:
        cause = error.storage_error if isinstance(error, StorageError) else error
        with self._lock:
            self._next_try = time.monotonic() + RETRY_SECONDS
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            self._skipped = 0
        # The exception's class only: its text can name hosts, and a traceback per call helps nobody.
        log.warning(
            "counter store %s (RATE_LIMIT_STORAGE) is not answering (%s). Until it does, chats on server "
            "keys are refused, visitor-key chats go on without a usage record, and access codes cannot "
            "be entered. Retrying every %g s.",
            describe_storage(self.uri),
            type(cause).__name__,
            RETRY_SECONDS,
        )

    def _came_back(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            seconds, skipped = time.monotonic() - self._down_since, self._skipped
            self._down_since = None
        log.warning(
            "counter store %s is answering again after %.0f s; %d usage records were skipped meanwhile.",
            describe_storage(self.uri),
            seconds,
            skipped,
        )


def parse_rate_limits(spec: str) -> list[RateLimitItem]:
    return parse_many(spec) if spec.strip() else []
