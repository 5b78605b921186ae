"""The tables behind the session guard: which browser owns each session hash, and who started
each event. Both are bounded, and neither ever hands an entry to someone else to make room."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["Claim", "EventOwners", "SessionBindings"]


class Claim(Enum):
    OK = "ok"
    TAKEN = "taken"  # another browser's session
    FULL = "full"  # no room for a new binding


@dataclass(slots=True)
class _Binding:
    owner: str
    client: str
    used: float


class SessionBindings:
    """Session hash -> the browser (cookie digest, or "" for no cookie) that used it first.

    A binding lives until it has been idle for ``idle_seconds``. A live one is never dropped for
    a newcomer: a flood of new hashes from one browser or one address meets its own cap, and a
    full table refuses new hashes instead of forgetting whose an old one was.
    """

    def __init__(
        self,
        *,
        capacity: int = 100_000,
        idle_seconds: float = 24 * 3600,
        per_owner: int = 200,
        per_client: int = 2_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._bindings: OrderedDict[str, _Binding] = OrderedDict()
        self._capacity = capacity
        self._idle = idle_seconds
        self._per_owner = per_owner
        self._per_client = per_client
        self._owners: dict[str, int] = {}
        self._clients: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, session_hash: str, owner: str, client: str = "") -> Claim:
        """May ``owner`` use ``session_hash``? Binds it to them when it is nobody's yet."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            held = self._bindings.get(session_hash)
            if held is not None:
                if held.owner != owner:
                    return Claim.TAKEN
                held.used = now
                self._bindings.move_to_end(session_hash)
                return Claim.OK
            if (
                len(self._bindings) >= self._capacity
                or (owner and self._owners.get(owner, 0) >= self._per_owner)
                or self._clients.get(client, 0) >= self._per_client
            ):
                return Claim.FULL
            self._bindings[session_hash] = _Binding(owner, client, now)
            self._owners[owner] = self._owners.get(owner, 0) + 1
            self._clients[client] = self._clients.get(client, 0) + 1
            return Claim.OK

    def _expire(self, now: float) -> None:
        # Oldest use first: stop at the first binding still alive.
        while self._bindings:
            session_hash, oldest = next(iter(self._bindings.items()))
            if now - oldest.used < self._idle:
                return
            del self._bindings[session_hash]
            for counts, key in ((self._owners, oldest.owner), (self._clients, oldest.client)):
                counts[key] -= 1
                if not counts[key]:
                    del counts[key]

    def __len__(self) -> int:
        return len(self._bindings)


class EventOwners:
    """Event id -> who started it (browser and client address): ``GET call/<api>/<event_id>``
    streams an event's output to whoever names the id, with no session involved. An id dropped
    to make room is refused to everyone, its owner included: never opened to someone else."""

    def __init__(self, *, capacity: int = 100_000) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def record(self, event_id: str, who: str) -> None:
        with self._lock:
            self._owners[event_id] = who
            self._owners.move_to_end(event_id)
            while len(self._owners) > self._capacity:
                self._owners.popitem(last=False)

    def owned_by(self, event_id: str, who: str) -> bool:
        with self._lock:
            return self._owners.get(event_id) == who
