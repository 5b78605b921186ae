"""One chat, start to finish: validate, pick the key, admit against quotas, stream, count.

The UI hands over what the browser sent plus a :class:`Caller` it built from the HTTP request;
everything that decides whether a key may be spent happens here, on the server.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from config.keys import HubSignIn
from config.network import TrustedProxies
from config.secret import Secret
from config.settings import Settings
from config.storage import CounterStore, parse_rate_limits
from errors import (
    ByokError,
    CounterUnavailable,
    InputRejected,
    InvalidKey,
    NoHubCredits,
    OrgBillingRefused,
    OutOfCredit,
    ServerKeyRejected,
    SignInNeeded,
    TooManyChecks,
)
from providers.chat import ChatStream, Reply
from providers.models import ModelCatalog, ModelList, SessionModels, fetch_list, fetch_model_ids
from providers.prices import PriceBook
from providers.registry import VISITOR_ENDPOINT, Provider
from providers.urlguard import check_visitor_url
from web.access import AccessGate
from web.asgi import client_id
from web.hflogin import hf_org_list, hf_orgs, hf_username
from web.quota import Quotas, UsageToday
from web.signin import SignInTokens
from web.spend import Spend, SpentToday
from words import ENGLISH, Phrase, say

from .admission import KEY_ANSWERS, Admission, Caller, signed_in
from .attachments import SessionFiles, UploadStore
from .metering import Chat, Ledger
from .request import ChatInputs

__all__ = ["Caller", "ChatService"]

log = logging.getLogger("byok_chat.usage")


class ChatService:
    def __init__(self, settings: Settings, *, hub_sign_in: bool = False) -> None:
        self.settings = settings
        # Visitors' Hugging Face sign-in tokens, on a Space that offers sign-in (web/hflogin.py).
        self.sign_ins = SignInTokens() if hub_sign_in else None
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
        self.prices = PriceBook(settings.model_prices)
        self.spend = Spend(self.counter, daily_per_client=settings.daily_spend_limit, everyone=settings.spend_limit)
        # Every reply in flight, each counted exactly once however it ends (metering.py).
        self.ledger = Ledger(self.quotas, self.counter, self.prices, self.spend)
        # Whether a chat may start, and on which key (admission.py).
        self.admission = Admission(
            settings, counter=self.counter, quotas=self.quotas, spend=self.spend, prices=self.prices, ledger=self.ledger
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
        browser: str = "",
        bound: bool = False,
        session_hash: str | None = None,
    ) -> Caller:
        """``browser`` and ``bound`` come from the boundary (web/boundary.py): a sign-in is given only
        to a session tied to the cookie of the browser that signed in."""
        return Caller(
            client=client_id(peer, headers, self.trusted, username=hf_username(oauth_info)),
            may_use_server_keys=self.may_use_server_keys(gate_passed=gate_passed, oauth_info=oauth_info),
            visitor_key=visitor_key,
            sign_in=self._sign_in(browser if bound else "", oauth_info, session_hash),
            browser=browser if bound else "",
        )

    def _sign_in(
        self, browser: str, oauth_info: Mapping[str, Any] | None, session_hash: str | None
    ) -> HubSignIn | None:
        if self.sign_ins is None:
            return None
        found = self.sign_ins.sign_in(browser, hf_username(oauth_info), session_hash)
        orgs = hf_org_list(oauth_info)
        # Only an organisation the login still lists may be billed.
        bill_to = found.bill_to if found.bill_to in {handle for handle, _ in orgs} else None
        return dataclasses.replace(found, orgs=orgs, bill_to=bill_to)

    def choose_bill_to(self, caller: Caller, org: object) -> None:
        """Bill one of the visitor's organisations for their signed-in chats ("" or None: their own
        account). The choice is checked against the organisations their login lists."""
        sign_in = caller.sign_in
        if self.sign_ins is None or sign_in is None or sign_in.token is None:
            raise InputRejected("refused_bill_to_signed_out")
        if org in (None, ""):
            self.sign_ins.bill(caller.browser, None)
            return
        if not isinstance(org, str) or org not in {handle for handle, _ in sign_in.orgs}:
            raise InputRejected("refused_bill_to_other")
        self.sign_ins.bill(caller.browser, org)

    def end_session(self, session_hash: str) -> None:
        if self.sign_ins is not None:
            self.sign_ins.end_session(session_hash)

    def _hf_allowed(self, oauth_info: Mapping[str, Any] | None) -> bool:
        users, orgs = self.settings.allowed_hf_users, self.settings.allowed_hf_orgs
        if not users and not orgs:
            return True
        username = hf_username(oauth_info)
        return username is not None and (username in users or bool(hf_orgs(oauth_info) & orgs))

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

    def spent_today(self, client: str) -> SpentToday | None:
        """Dollars against the spend limits (None while the counter store is down)."""
        try:
            return self.spend.spent_today(client)
        except CounterUnavailable:
            return None

    async def reply(
        self,
        caller: Caller,
        inputs: ChatInputs,
        *,
        notify: Callable[[str], None] | None = None,
    ) -> AsyncIterator[Reply]:
        """The reply as it grows, its reasoning included; the last update carries the stats.
        ``notify`` hears what the visitor should know about the request (an attachment cut)."""
        with self.admission.running(caller.client, inputs.provider_id):
            # Closed here, not left to the garbage collector: a closed tab must count the reply now.
            async with aclosing(self._reply(caller, inputs, notify)) as replies:
                async for reply in replies:
                    yield reply

    async def _reply(
        self, caller: Caller, inputs: ChatInputs, notify: Callable[[str], None] | None
    ) -> AsyncIterator[Reply]:
        try:
            admitted = await self.admission.admit(caller, inputs, notify)
        except ByokError as refused:
            self.ledger.refused(caller.client, self.settings.provider(inputs.provider_id), refused)
            raise
        request, key = admitted.request, admitted.key
        provider = request.provider
        on_server_key = key is not None and key is self.settings.server_key(provider.id)
        stream = ChatStream(
            request,
            key=key,
            timeout=self.settings.request_timeout,
            max_retries=self.settings.max_retries,
            max_seconds=self.settings.max_reply_seconds,
            bill_to=caller.sign_in.bill_to if caller.sign_in is not None and key is caller.sign_in.token else None,
        )
        kind = _key_kind(caller, provider, on_server_key)
        chat = Chat(caller.client, provider, request.model, kind, admitted.metered)
        tab = self.ledger.open(chat, stream, admitted.reservation)
        outcome = "ok"
        try:
            # Closed here, not left to the garbage collector: a closed tab ends this generator
            # between two updates, and the stream must be finished with before the count.
            async with aclosing(stream.replies()) as replies:
                async for reply in replies:
                    yield self._priced(reply, provider, request.model)
        except ByokError as error:
            outcome = type(error).__name__
            if caller.visitor_key is not None and isinstance(error, KEY_ANSWERS):
                self.admission.count_check(caller.client)
            on_sign_in = caller.sign_in is not None and key is not None and key is caller.sign_in.token
            if on_sign_in:
                raise self._sign_in_failure(provider, caller, error) from None
            if on_server_key and isinstance(error, InvalidKey):
                # The visitor has no key box and cannot fix the operator's key: say whose it is.
                log.warning("the server's %s key was rejected (HTTP %s)", provider.id, error.status)
                raise ServerKeyRejected(error.label, status=error.status) from None
            raise
        except BaseException:
            outcome = "stopped"  # Stop, a closed tab, a cancelled call
            raise
        finally:
            # No await before this: a second cancellation cannot skip the count.
            tab.settle(outcome)

    def _priced(self, reply: Reply, provider: Provider, model: str) -> Reply:
        """The last update's stats with a cost wherever the reply can be priced."""
        stats = reply.stats
        if stats is None or stats.cost is not None:
            return reply
        usage = stats.usage
        cost = self.prices.cost(provider, model, usage.prompt_tokens, usage.completion_tokens)
        return replace(reply, stats=replace(stats, cost=cost)) if cost is not None else reply

    def _sign_in_failure(self, provider: Provider, caller: Caller, error: ByokError) -> ByokError:
        """What a refusal of the visitor's own sign-in means to them: sign in again, or add credits."""
        org = caller.sign_in.bill_to if caller.sign_in is not None else None
        if org and (isinstance(error, OutOfCredit) or (isinstance(error, InvalidKey) and error.status == 403)):
            # The token is fine; the organisation would not pay.
            return OrgBillingRefused(provider.label, org=org, status=error.status)
        if isinstance(error, InvalidKey):
            if self.sign_ins is not None:
                self.sign_ins.refused(caller.browser)
            return SignInNeeded(provider.label, ended=True)
        if isinstance(error, OutOfCredit):
            return NoHubCredits(provider.label, status=error.status)
        return error

    def on_server_key(self, provider: Provider, caller: Caller) -> bool:
        """Would a chat from this caller to this provider spend the operator's key?"""
        return (
            caller.visitor_key is None
            and not signed_in(provider, caller)
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
            return ModelList(provider.models, Phrase("models_not_loaded", {"why": refused.phrase}))
        cached = session.get(provider.id, key_version, visitor_url)
        if cached is not None:
            return cached
        try:
            self.quotas.admit_check(caller.client)
        except TooManyChecks:
            return ModelList(provider.models, Phrase("models_too_many_checks"))
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
            raise InputRejected("refused_endpoint_missing_short")
        return check_visitor_url(base_url.strip(), allow_local=self.settings.allow_local_base_url)

    async def check_key(
        self, caller: Caller, provider_id: object, base_url: object = "", language: str = ENGLISH
    ) -> str:
        """ "Key works: N models available", or a ByokError with the mapped message. Spends no tokens."""
        provider = self.settings.provider(provider_id)
        if provider is None:
            raise InputRejected("refused_unknown_provider")
        if caller.visitor_key is None:
            raise InputRejected(Phrase("refused_check_without_key", {"provider": provider.label}))
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
        return say(language, "key_works", provider=provider.label, count=f"{len(ids):,}")


def _key_kind(caller: Caller, provider: Provider, on_server_key: bool) -> str:
    if on_server_key:
        return "server"
    if caller.visitor_key is not None:
        return "visitor"
    return "sign-in" if signed_in(provider, caller) else "none"
