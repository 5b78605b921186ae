"""Which key a request uses, and from where: a visitor's typed key, kept per session; on a Space that
offers it, the visitor's Hugging Face sign-in, for the Hugging Face row only; or the operator's
server key for that provider only. Keys travel as :class:`~config.secret.Secret`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from errors import InputRejected, KeyRequired, SignInNeeded
from words import Phrase

from .secret import KEY_SHAPE, MAX_KEY_LENGTH, MIN_KEY_LENGTH, Secret

if TYPE_CHECKING:
    from providers.registry import Provider

    from .settings import Settings

__all__ = ["HUB_ROW", "HubSignIn", "SessionKeys", "parse_visitor_key", "resolve_key"]

# The one row a Hugging Face sign-in pays for: Inference Providers, at its operator-configured URL.
HUB_ROW = "hf"


@dataclass(frozen=True, slots=True)
class HubSignIn:
    """A visitor's Hugging Face sign-in, on a Space that grants the ``inference-api`` scope."""

    token: Secret | None = None  # None: not signed in in this browser, or the sign-in ended
    username: str | None = None
    ended: bool = False  # this browser held a sign-in that expired or was revoked
    # The visitor's organisations from the login, as (handle, display name), and the one they chose
    # to bill (a handle among them), if any.
    orgs: tuple[tuple[str, str], ...] = ()
    bill_to: str | None = None

    def __repr__(self) -> str:
        return (
            f"HubSignIn(username={self.username!r}, held={self.token is not None}, ended={self.ended}, "
            f"bill_to={self.bill_to!r})"
        )


def parse_visitor_key(raw: object) -> Secret | None:
    """A visitor's key as typed, or None for an empty box. Refuses shapes no provider issues."""
    if not isinstance(raw, str):
        raise InputRejected("refused_key_not_text")
    value = raw.strip()
    if not value:
        return None
    if len(value) > MAX_KEY_LENGTH:
        raise InputRejected(Phrase("refused_key_too_long", {"limit": MAX_KEY_LENGTH}))
    if not KEY_SHAPE.fullmatch(value):
        raise InputRejected("refused_key_characters")
    if len(value) < MIN_KEY_LENGTH:
        raise InputRejected("refused_key_too_short")
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


def resolve_key(
    provider: Provider,
    settings: Settings,
    *,
    visitor_key: Secret | None,
    sign_in: HubSignIn | None = None,
    server_key_allowed: bool = True,
) -> Secret | None:
    """The key for one request to ``provider``'s operator-configured base URL.

    A visitor's own key wins when they give one: it is their account, and a wrong visitor key must
    fail rather than quietly spend the server's. Next, on the Hugging Face row only, the visitor's
    sign-in (``sign_in`` is given only where a Space offers it). Otherwise the server key of *this*
    provider, and only this one. Returns None only for providers that need no key (local servers);
    the caller then sends a placeholder, never None, because the openai SDK would read
    ``OPENAI_API_KEY``.
    """
    if visitor_key is not None:
        return visitor_key
    signs_in = sign_in is not None and provider.id == HUB_ROW
    if signs_in and sign_in.token is not None:
        return sign_in.token
    server_key = settings.server_key(provider.id) if server_key_allowed else None
    if server_key is not None:
        return server_key
    if signs_in:
        raise SignInNeeded(provider.label, ended=sign_in.ended)
    if provider.needs_key:
        raise KeyRequired(provider.label, provider.key_env)
    return None
