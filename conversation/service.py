"""One chat, start to finish: validate, pick the key, admit against quotas, stream, count.

The UI hands over what the browser sent plus a :class:`Caller` it built from the HTTP request;
everything that decides whether a key may be spent happens here, on the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config.keys import resolve_key
from config.network import TrustedProxies
from config.secret import Secret
from config.settings import Settings
from config.storage import CounterStore, parse_rate_limits
from errors import (
    CODE_HEADER,
    KEY_HEADER,
    AccessDenied,
    ByokError,
    CounterUnavailable,
    InputRejected,
    InvalidKey,
    ServerKeyRejected,
    TooManyChecks,
)
from providers.chat import ChatStream, Reply
from providers.models import ModelCatalog, ModelList, SessionModels, check_model_allowed, fetch_list, fetch_model_ids
from providers.registry import VISITOR_ENDPOINT, Provider
from providers.urlguard import check_visitor_url
from web.access import AccessGate
from web.asgi import client_id
from web.quota import Quotas, UsageToday

from .attachments import SessionFiles, UploadStore
from .request import ChatInputs, build_request

__all__ = ["Caller", "ChatService"]

log = logging.getLogger("byok_chat.usage")


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    client: str
    # False when a gate is configured and this caller has not passed it (BYO-exempt visitors).
    may_use_server_keys: bool
    visitor_key: Secret | None = None


class ChatService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counter = CounterStore(settings.rate_limit_storage)
        self.storage = self.counter.storage
        self.quotas = Quotas(
            self.counter,
            rate_limits=parse_rate_limits(settings.rate_limit),
            daily_tokens=settings.daily_token_limit,
            # Key checks are throttled like chats: by RATE_LIMIT when the operator set one.
            check_limits=parse_rate_limits(settings.rate_limit) if settings.rate_limit else None,
            upload_limits_mb=parse_rate_limits(settings.upload_limit_mb),
        )
        self.catalog = ModelCatalog(settings)
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.gate = (
            AccessGate(
                settings.access_codes,
                counter=self.counter,
                trusted=self.trusted,
                byo_exempt=settings.access_code_byo_exempt,
            )
            if settings.access_codes
            else None
        )
        # Every browser's uploads and each session's encoded copies (conversation/attachments.py).
        self.uploads = UploadStore(
            max_image_bytes=int(settings.max_image_mb * 1_000_000),
            max_file_bytes=int(settings.max_upload_mb * 1_000_000),
        )

    @property
    def takes_files(self) -> bool:
        return self.settings.max_files_per_message > 0

    def session_files(self, session_hash: str | None, owner: str, *, bound: bool) -> SessionFiles | None:
        """The files a chat in this session may use: None unless the session is tied to the
        browser cookie (a script without the page's cookie never sends files)."""
        if not self.takes_files or not bound or not session_hash or not owner:
            return None
        uploads = self.uploads.session(session_hash, owner)
        return SessionFiles(self.uploads, uploads) if uploads is not None else None

    def may_use_server_keys(self, *, gate_passed: bool, oauth_info: Mapping[str, Any] | None) -> bool:
        code_ok = not self.settings.access_codes or gate_passed
        return code_ok and self._hf_allowed(oauth_info)

    def caller(
        self,
        *,
        peer: str,
        headers: Mapping[str, str],
        gate_passed: bool,
        oauth_info: Mapping[str, Any] | None,
        visitor_key: Secret | None,
    ) -> Caller:
        return Caller(
            client=client_id(peer, headers, self.trusted, username=_hf_username(oauth_info)),
            may_use_server_keys=self.may_use_server_keys(gate_passed=gate_passed, oauth_info=oauth_info),
            visitor_key=visitor_key,
        )

    def _hf_allowed(self, oauth_info: Mapping[str, Any] | None) -> bool:
        users, orgs = self.settings.allowed_hf_users, self.settings.allowed_hf_orgs
        if not users and not orgs:
            return True
        username = _hf_username(oauth_info)
        return username is not None and (username in users or bool(_hf_orgs(oauth_info) & orgs))

    def key_box_needed(self, provider: Provider, *, may_use_server_keys: bool) -> bool:
        if not provider.needs_key:
            return False
        return not may_use_server_keys or self.settings.needs_visitor_key(provider)

    @property
    def counter_available(self) -> bool:
        """False while the counter store is down (server keys paused, usage unknown)."""
        return self.counter.available

    def usage_today(self, client: str) -> UsageToday:
        """Never raises; ``available`` is False while the counter store is down."""
        return self.quotas.usage_today(client)

    async def reply(
        self,
        caller: Caller,
        inputs: ChatInputs,
        *,
        effort: str = "default",
        notify: Callable[[str], None] | None = None,
    ) -> AsyncIterator[Reply]:
        """The reply as it grows, its reasoning included; the last update carries the stats.
        ``notify`` hears what the visitor should know about the request (an attachment cut)."""
        request = build_request(self.settings, inputs)
        for note in request.notes:
            if notify is not None:
                notify(note)
        provider = request.provider
        key = self._key_for(provider, caller)
        on_server_key = key is not None and key is self.settings.server_key(provider.id)
        check_model_allowed(self.settings, provider, request.model, on_server_key=on_server_key)
        if on_server_key:
            # Fails closed: with the counter store down this raises CounterUnavailable and no
            # server key is spent. A visitor's own key needs no counter.
            self.quotas.admit(caller.client)
        stream = ChatStream(
            request,
            key=key,
            timeout=self.settings.request_timeout,
            max_retries=self.settings.max_retries,
            max_seconds=self.settings.max_reply_seconds,
            effort=effort,
        )
        outcome = "ok"
        try:
            async for reply in stream.replies():
                yield reply
        except ByokError as error:
            outcome = type(error).__name__
            if on_server_key and isinstance(error, InvalidKey):
                # The visitor has no key box and cannot fix the operator's key: say whose it is.
                log.warning("the server's %s key was rejected (HTTP %s)", provider.id, error.status)
                raise ServerKeyRejected(error.label, status=error.status) from None
            raise
        except BaseException:
            outcome = "stopped"  # the visitor pressed Stop or closed the tab
            raise
        finally:
            self._count(caller, request.provider, request.model, stream, on_server_key, outcome)

    def on_server_key(self, provider: Provider, caller: Caller) -> bool:
        """Would a chat from this caller to this provider spend the operator's key?"""
        return (
            caller.visitor_key is None
            and caller.may_use_server_keys
            and self.settings.server_key(provider.id) is not None
        )

    def shown_models(self, provider: Provider, caller: Caller) -> tuple[str, ...]:
        """The list to show before any live list arrives: the operator's, or the registry's."""
        return self.catalog.curated(provider, on_server_key=self.on_server_key(provider, caller))

    async def model_list(
        self, caller: Caller, provider_id: object, session: SessionModels, base_url: object = "", key_version: int = 0
    ) -> ModelList:
        """The model list for the key a chat from this caller would use. Never raises."""
        provider = self.settings.provider(provider_id)
        if provider is None:
            return ModelList(())
        if caller.visitor_key is not None:
            return await self._visitor_list(caller, provider, session, base_url, key_version)
        if self.on_server_key(provider, caller):
            return await self.catalog.shared(provider, self.settings.server_key(provider.id))
        if not provider.needs_key:
            return await self.catalog.shared(provider, None)  # a local server lists what it has loaded
        return ModelList(provider.models)

    async def _visitor_list(
        self, caller: Caller, provider: Provider, session: SessionModels, base_url: object, key_version: int
    ) -> ModelList:
        try:
            visitor_url = self._visitor_url(provider, base_url)
        except InputRejected as refused:
            # The guard's fixed message (it never repeats the URL).
            return ModelList(provider.models, f"Model list not loaded. {refused}")
        cached = session.get(provider.id, key_version, visitor_url)
        if cached is not None:
            return cached
        try:
            self.quotas.admit_check(caller.client)
        except TooManyChecks:
            return ModelList(provider.models, "Model list not loaded: too many checks from here. Type any model id.")
        listing = await fetch_list(
            provider,
            caller.visitor_key,
            curated=provider.models,
            timeout=self.settings.request_timeout,
            visitor_base_url=visitor_url,
            allow_local=self.settings.allow_local_base_url,
        )
        session.put(provider.id, key_version, visitor_url, listing)
        return listing

    def _visitor_url(self, provider: Provider, base_url: object) -> str | None:
        if provider.id != VISITOR_ENDPOINT.id:
            return None
        if not isinstance(base_url, str) or not base_url.strip():
            raise InputRejected("Enter your endpoint's base URL.")
        return check_visitor_url(base_url.strip(), allow_local=self.settings.allow_local_base_url)

    async def check_key(self, caller: Caller, provider_id: object, base_url: object = "") -> str:
        """ "Key works: N models available", or a ByokError with the mapped message. Spends no tokens."""
        provider = self.settings.provider(provider_id)
        if provider is None:
            raise InputRejected("Unknown provider. Pick one from the list.")
        if caller.visitor_key is None:
            raise InputRejected(f"Enter your {provider.label} key first, then check it.")
        visitor_url = self._visitor_url(provider, base_url)
        self.quotas.admit_check(caller.client)
        outcome = "ok"
        try:
            ids = await fetch_model_ids(
                provider,
                caller.visitor_key,
                timeout=self.settings.request_timeout,
                visitor_base_url=visitor_url,
                allow_local=self.settings.allow_local_base_url,
            )
        except ByokError as error:
            outcome = type(error).__name__
            raise
        finally:
            # Who checked which provider and what came of it; never the key.
            log.info("key check client=%s provider=%s outcome=%s", caller.client, provider.id, outcome)
        # What the provider lists; the model box also keeps the usual models it may leave out.
        return f"Key works: {provider.label} lists {len(ids):,} models."

    def _key_for(self, provider: Provider, caller: Caller) -> Secret | None:
        if caller.may_use_server_keys or caller.visitor_key is not None:
            return resolve_key(provider, self.settings, visitor_key=caller.visitor_key)
        if self.settings.server_key(provider.id) is not None:
            page, script = self.server_key_refusal(provider)
            title = None if self.settings.access_codes else "Sign-in needed"
            raise AccessDenied(page, script_message=script, title=title)
        return resolve_key(provider, self.settings, visitor_key=None)

    def server_key_refusal(self, provider: Provider) -> tuple[str, str]:
        """Why this caller may not use the server's key and what they can do instead: for the page,
        and for scripts."""
        if self.settings.access_codes:
            needs = f"{provider.label} runs on the operator's key, which needs the access code."
            return (
                f"{needs} Enter the code (open byok/access on this site), or enter your own {provider.label} key.",
                f"{needs} Send it in the {CODE_HEADER} header, or send your own "
                f"{provider.label} key in the {KEY_HEADER} header.",
            )
        needs = (
            f"{provider.label} runs on the operator's key, which is only for the Hugging Face users and "
            f"organisations this app allows."
        )
        return (
            f"{needs} Sign in with an allowed account, or enter your own {provider.label} key.",
            f"{needs} Send your own {provider.label} key in the {KEY_HEADER} header.",
        )

    def _count(
        self, caller: Caller, provider: Provider, model: str, stream: ChatStream, on_server_key: bool, outcome: str
    ) -> None:
        usage = stream.usage
        tokens = usage.total_tokens if usage else 0
        counted = True
        # The reply has been streamed already: a counter store failing now must not turn it into
        # an error. CounterStore has logged the outage once; this chat just goes uncounted.
        try:
            if on_server_key:
                self.quotas.charge(caller.client, tokens)
            self.quotas.record(caller.client, provider.id, tokens)
        except CounterUnavailable:
            counted = False
            self.counter.note_skipped()
        # One line per chat: who, where, how much. Never a key, never message text.
        log.info(
            "chat client=%s provider=%s model=%s key=%s outcome=%s prompt_tokens=%s completion_tokens=%s%s%s",
            caller.client,
            provider.id,
            model,
            "server" if on_server_key else "visitor" if caller.visitor_key else "none",
            outcome,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            " (estimated)" if usage and usage.estimated else "",
            "" if counted else " (not counted: counter store unavailable)",
        )


def _userinfo(oauth_info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    info = (oauth_info or {}).get("userinfo")
    return info if isinstance(info, Mapping) else {}


def _hf_username(oauth_info: Mapping[str, Any] | None) -> str | None:
    name = _userinfo(oauth_info).get("preferred_username")
    return name.lower() if isinstance(name, str) and name else None


def _hf_orgs(oauth_info: Mapping[str, Any] | None) -> set[str]:
    # The Hub's OpenID userinfo lists the user's organisations under "orgs", each with
    # "preferred_username" (the organisation's handle, as in huggingface.co/<handle>) and "name" (its
    # display name): https://huggingface.co/docs/huggingface.js/hub/interfaces/UserInfo
    # Only the handle counts: anyone can give their own organisation the display name "acme".
    orgs = _userinfo(oauth_info).get("orgs")
    if not isinstance(orgs, list):
        return set()
    names = (org.get("preferred_username") for org in orgs if isinstance(org, Mapping))
    return {name.lower() for name in names if isinstance(name, str) and name}
