"""Which key a request uses, and from where.

A key is wrapped in :class:`Secret` from the moment we read it, so a stray ``print``, f-string,
``repr`` or log call shows ``Secret('****')``. Only :func:`chat.stream_chat` unwraps it, to put it
in one request's ``Authorization`` header.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

from .errors import InputRejected, KeyRequired

if TYPE_CHECKING:
    from .registry import Provider
    from .settings import Settings

__all__ = ["Secret", "SessionKeys", "live_secrets", "parse_visitor_key", "resolve_key"]

MAX_KEY_LENGTH = 512
MIN_KEY_LENGTH = 8
# Visible ASCII only: a space, CR or LF in a key would be a header injection waiting to happen.
_KEY_SHAPE = re.compile(r"[\x21-\x7e]+")

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


def parse_visitor_key(raw: object) -> Secret | None:
    """A visitor's key as typed, or None for an empty box. Refuses shapes no provider issues."""
    if not isinstance(raw, str):
        raise InputRejected("The API key must be text.")
    value = raw.strip()
    if not value:
        return None
    if len(value) > MAX_KEY_LENGTH:
        raise InputRejected(f"That API key is too long (over {MAX_KEY_LENGTH} characters).")
    if not _KEY_SHAPE.fullmatch(value):
        raise InputRejected(
            "That API key contains spaces, line breaks or other characters keys never have. Paste it again."
        )
    if len(value) < MIN_KEY_LENGTH:
        raise InputRejected("That API key is too short to be real. Paste the whole key.")
    return Secret(value)


class SessionKeys:
    """The keys one visitor typed, per provider. Lives in gr.State; never leaves the server.

    A key typed for "Your own endpoint" is kept with the URL it was typed for and is given out
    only for that URL: a visitor who changes the URL is asked for the key again, so a key never
    follows the URL box somewhere its owner did not send it.

    Deep copies share nothing with the original: Gradio deep-copies the initial value for every
    new session, and one visitor's keys must never be visible to another.
    """

    __slots__ = ("_by_provider", "_versions")

    def __init__(self) -> None:
        self._by_provider: dict[str, tuple[Secret, str]] = {}
        # Bumped whenever a provider's key is set or forgotten, so what was fetched with an older
        # key (a model list) can be told apart without keeping anything derived from the key.
        self._versions: dict[str, int] = {}

    def set(self, provider_id: str, key: Secret, *, endpoint: str = "") -> None:
        self._by_provider[provider_id] = (key, endpoint.strip())
        self._versions[provider_id] = self._versions.get(provider_id, 0) + 1

    def get(self, provider_id: str, *, endpoint: str = "") -> Secret | None:
        held = self._by_provider.get(provider_id)
        return held[0] if held is not None and held[1] == endpoint.strip() else None

    def version(self, provider_id: str) -> int:
        return self._versions.get(provider_id, 0)

    def forget(self, provider_id: str) -> None:
        if self._by_provider.pop(provider_id, None) is not None:
            self._versions[provider_id] = self._versions.get(provider_id, 0) + 1

    def clear(self) -> None:
        self._by_provider.clear()

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self._by_provider

    def __len__(self) -> int:
        return len(self._by_provider)

    def __repr__(self) -> str:
        return f"SessionKeys(providers={sorted(self._by_provider)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("SessionKeys cannot be pickled")

    def __deepcopy__(self, memo: dict[int, object]) -> SessionKeys:
        return SessionKeys()


def resolve_key(provider: Provider, settings: Settings, *, visitor_key: Secret | None) -> Secret | None:
    """The key for one request to ``provider``'s operator-configured base URL.

    A visitor's own key wins when they give one: it is their account, and a wrong visitor key must
    fail rather than quietly spend the server's. Otherwise the server key of *this* provider, and
    only this one. Returns None only for providers that need no key (local servers); the caller
    then sends a placeholder, never None, because the openai SDK would read ``OPENAI_API_KEY``.
    """
    if visitor_key is not None:
        return visitor_key
    server_key = settings.server_key(provider.id)
    if server_key is not None:
        return server_key
    if provider.needs_key:
        raise KeyRequired(provider.label, provider.key_env)
    return None
