"""A key as a value: masked when printed, never pickled, known to the log filter while alive.

A key is wrapped in :class:`Secret` from the moment we read it, so a stray ``print``, f-string,
``repr`` or log call shows ``Secret('****')``. It is unwrapped only where the value itself is needed:
the provider adapter, for one request's ``Authorization`` header; the gate, to compare an access
code; the log filter, to mask it.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from typing import NoReturn

__all__ = ["KEY_SHAPE", "MAX_KEY_LENGTH", "MIN_KEY_LENGTH", "Secret", "live_secrets"]

MAX_KEY_LENGTH = 512
MIN_KEY_LENGTH = 8
# Visible ASCII only: a space, CR or LF in a key would be a header injection waiting to happen.
KEY_SHAPE = re.compile(r"[\x21-\x7e]+")

# Every Secret alive in this process, so the log filter can mask it. Weak, so a visitor's key
# leaves this set when their session state is dropped.
_LIVE: weakref.WeakSet[Secret] = weakref.WeakSet()


class Secret:
    """A key. Masked in str/repr, refuses to be pickled (so it cannot reach disk that way)."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        _LIVE.add(self)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


def live_secrets() -> Iterator[str]:
    for secret in list(_LIVE):
        yield secret.reveal()
