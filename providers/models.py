"""Live model lists from a provider's ``GET /models``, merged with the registry's curated list.

A list is fetched with the key a chat would use. With a server key it is fetched at most once per
``MODEL_LIST_TTL`` and shared by every visitor; the cache is keyed by provider and base URL, never
by key. With a visitor's key it is fetched for that visitor's session only, and counts against the
key-check throttle (a model list is also an answer to "does this key work?").

A list is a convenience: every failure (a wrong key, a server error, a hang, malformed JSON, an
absurdly long list) ends in the curated list and a short note, within ``REQUEST_TIMEOUT``.
``<ID>_MODELS`` replaces all of this on a server key: the operator's list is what is shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx2

from config.redact import redact
from config.secret import Secret
from errors import (
    ByokError,
    CannotConnect,
    InputRejected,
    InvalidKey,
    ModelNotAllowed,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from words import ENGLISH, Phrase

from .classify import classify, error_for
from .pool import shared_pool
from .registry import Provider
from .transport import NO_KEY_PLACEHOLDER
from .urlguard import guarded_pool

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "MAX_LIVE_MODELS",
    "ModelCatalog",
    "ModelList",
    "SessionModels",
    "check_model_allowed",
    "fetch_model_ids",
    "merge_models",
]

log = logging.getLogger("byok_chat.models")

# More than this is not a list anyone picks from; the visitor can still type any id.
MAX_LIVE_MODELS = 1000
# A list of 1,000 models with metadata is ~1 MB (OpenRouter's is the largest we know).
MAX_BODY_BYTES = 4_000_000
# A failed shared fetch is retried after this long, not on every page load.
FAILED_TTL = 60.0
_MODEL_ID = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, slots=True)
class ModelList:
    """What the model dropdown offers: ``models`` (curated first) and a short note for the page
    (``words``, said in the visitor's language; ``note`` is the English)."""

    models: tuple[str, ...]
    words: Phrase | None = None
    live: int | None = None  # how many the provider listed; None when the list was not fetched

    @property
    def note(self) -> str:
        return self.note_in(ENGLISH)

    def note_in(self, language: str) -> str:
        return self.words.in_language(language) if self.words is not None else ""


def merge_models(curated: tuple[str, ...], live: list[str]) -> tuple[str, ...]:
    """Curated first, in the registry's order; then the provider's others, sorted for searching."""
    rest = sorted(set(live) - set(curated))
    return (*curated, *rest)


def check_model_allowed(settings: Settings, provider: Provider, model: str, *, on_server_key: bool) -> None:
    """Refuse, before anything is sent, a model the operator left out of ``<ID>_MODELS``."""
    if not on_server_key:
        return  # a visitor's own key: their account, any model
    allowed = settings.restricted_models(provider)
    if allowed is not None and model not in allowed:
        raise ModelNotAllowed(provider.label, allowed)


async def fetch_model_ids(
    provider: Provider,
    key: Secret | None,
    *,
    timeout: float,
    visitor_base_url: str | None = None,
    allow_local: bool = False,
) -> list[str]:
    """The ids ``GET <base_url>/models`` lists, or one of our errors (never the provider's text)."""
    base_url = visitor_base_url or provider.base_url
    # A visitor-typed URL goes through the guard that vets every address it connects to; an
    # operator-configured one through the shared pool the chats use.
    pool = guarded_pool(allow_local=allow_local) if visitor_base_url else shared_pool()
    token = key.reveal() if key is not None else NO_KEY_PLACEHOLDER
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        async with asyncio.timeout(timeout):
            async with pool.stream("GET", base_url.rstrip("/") + "/models", headers=headers, timeout=timeout) as reply:
                if reply.status_code != 200:
                    body = await _read(reply, 65_536)
                    raise _status_error(provider, reply.status_code, reply.headers, body)
                body = await _read(reply, MAX_BODY_BYTES)
    except (ByokError, InputRejected):
        raise
    except (TimeoutError, httpx2.TimeoutException):
        raise ProviderTimeout(provider.label, seconds=timeout) from None
    except (httpx2.TransportError, OSError):
        raise CannotConnect(provider.label) from None
    return _parse_ids(body, provider.label)


async def _read(reply: httpx2.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in reply.aiter_bytes():
        data += chunk
        if len(data) > limit:
            raise _TooLarge()
    return bytes(data)


class _TooLarge(ProviderError):
    def describe(self, label: str) -> str:
        return f"{label} sent a model list too large to show."

    def __init__(self) -> None:
        super().__init__("The provider")


def _status_error(provider: Provider, status: int, headers: httpx2.Headers, body: bytes) -> ProviderError:
    label = provider.label
    if status in (401, 403):
        # Listing models needs no model access: a refusal here is about the key itself.
        return InvalidKey(label, status=status)
    if 300 <= status < 400:
        return CannotConnect(label)  # a redirect is never followed; the address is wrong
    if status == 404:
        return ProviderError(label, status=status)  # no model list at this address; not a model
    # The same reading of the provider's body a chat's failure gets (credit, rate limits, ...).
    return error_for(classify(status, headers, body, provider.id), label, model="")


def _parse_ids(body: bytes, label: str) -> list[str]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(label) from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ProviderError(label)
    ids = (entry.get("id") for entry in data if isinstance(entry, dict))
    # Provider text shown in the page: only id-shaped strings, once each, and never one that holds
    # a live key or looks like one (an upstream may echo the key it was sent).
    return list(dict.fromkeys(i for i in ids if isinstance(i, str) and _MODEL_ID.fullmatch(i) and redact(i) == i))


def _note_for(error: ByokError, provider: Provider) -> Phrase:
    if isinstance(error, _TooLarge):
        reason = "models_reason_too_large"
    elif isinstance(error, InvalidKey):
        reason = "models_reason_key_refused"
    elif isinstance(error, RateLimited | OutOfCredit):
        reason = "models_reason_limited"
    elif isinstance(error, ProviderTimeout):
        reason = "models_reason_no_answer"
    elif isinstance(error, CannotConnect | InputRejected):
        reason = "models_reason_no_connection"
    else:
        reason = "models_reason_error"
    return Phrase("models_usual", {"provider": provider.label, "reason": Phrase(reason)})


def live_list(provider: Provider, curated: tuple[str, ...], ids: list[str]) -> ModelList:
    label = provider.label
    if len(ids) > MAX_LIVE_MODELS:
        return ModelList(curated, Phrase("models_too_many", {"provider": label, "count": f"{len(ids):,}"}), len(ids))
    if not ids:
        return ModelList(curated, Phrase("models_none", {"provider": label}), live=0)
    merged = merge_models(curated, ids)
    note = Phrase("models_live", {"provider": label, "count": f"{len(ids):,}"})
    if len(merged) > len(ids):
        # The usual models the provider did not list are kept too: count what the list shows.
        counts = {"total": f"{len(merged):,}", "count": f"{len(ids):,}", "extra": f"{len(merged) - len(ids):,}"}
        note = Phrase("models_live_and_usual", {"provider": label, **counts})
    return ModelList(merged, note, live=len(ids))


async def fetch_list(
    provider: Provider,
    key: Secret | None,
    *,
    curated: tuple[str, ...],
    timeout: float,
    visitor_base_url: str | None = None,
    allow_local: bool = False,
) -> ModelList:
    """A model list, live when the provider answers, the curated one with a note when it does not."""
    try:
        ids = await fetch_model_ids(
            provider, key, timeout=timeout, visitor_base_url=visitor_base_url, allow_local=allow_local
        )
    except ByokError as error:
        # Never the key, the URL or the provider's text: the provider and what went wrong.
        log.info("model list unavailable: provider=%s error=%s", provider.id, type(error).__name__)
        return ModelList(curated, _note_for(error, provider))
    return live_list(provider, curated, ids)


@dataclass
class SessionModels:
    """One visitor's lists fetched with their own key. Lives in gr.State.

    Keyed by provider id, the version of the visitor's key for it (``SessionKeys.version``: a
    counter, nothing derived from the key) and, for the visitor's own endpoint, its base URL.
    Holds model ids only. A new key makes a new slot; the provider's older slots are dropped.
    """

    lists: dict[tuple[str, int, str], ModelList] = field(default_factory=dict)

    def get(self, provider_id: str, key_version: int, base_url: str | None) -> ModelList | None:
        return self.lists.get((provider_id, key_version, base_url or ""))

    def put(self, provider_id: str, key_version: int, base_url: str | None, listing: ModelList) -> None:
        for slot in [s for s in self.lists if s[0] == provider_id and s[1] != key_version]:
            del self.lists[slot]
        self.lists[(provider_id, key_version, base_url or "")] = listing


@dataclass
class _Entry:
    expires: float
    listing: ModelList


class ModelCatalog:
    """Model lists fetched with server keys (or no key, for local servers), shared by everyone."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        # Keyed by provider id and base URL: never by key, so a key cannot end up in a cache key
        # (or a debug dump of one).
        self._shared: dict[tuple[str, str], _Entry] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[ModelList]] = {}

    def curated(self, provider: Provider, *, on_server_key: bool) -> tuple[str, ...]:
        allowed = self.settings.restricted_models(provider) if on_server_key else None
        return allowed if allowed is not None else provider.models

    async def shared(self, provider: Provider, key: Secret | None) -> ModelList:
        allowed = self.settings.restricted_models(provider)
        if allowed is not None and key is not None:
            return ModelList(allowed, Phrase("models_operator", {"count": len(allowed), "provider": provider.label}))
        cache_key = (provider.id, provider.base_url)
        entry = self._shared.get(cache_key)
        if entry is not None and entry.expires > self._clock():
            return entry.listing
        task = self._inflight.get(cache_key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            # One fetch for everyone who opens the page while it runs.
            task = asyncio.get_running_loop().create_task(self._fetch(provider, key, cache_key))
            self._inflight[cache_key] = task
        return await asyncio.shield(task)

    async def _fetch(self, provider: Provider, key: Secret | None, cache_key: tuple[str, str]) -> ModelList:
        try:
            listing = await fetch_list(provider, key, curated=provider.models, timeout=self.settings.request_timeout)
            ttl = self.settings.model_list_ttl
            if listing.live is None:
                ttl = min(FAILED_TTL, ttl)
            self._shared[cache_key] = _Entry(self._clock() + ttl, listing)
            return listing
        finally:
            self._inflight.pop(cache_key, None)
