"""Whether a chat may start, and on what: the key it spends, the quotas and spend limits it is
admitted against, and how many chats one client may have in flight. Everything here runs before a
byte is sent upstream, and a refused chat costs the client nothing but its log line.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from config.keys import HUB_ROW, HubSignIn, resolve_key
from config.secret import Secret
from config.settings import Settings
from config.storage import CounterStore
from errors import (
    CODE_HEADER,
    KEY_HEADER,
    AccessDenied,
    CounterUnavailable,
    InvalidKey,
    ModelNotPriced,
    NoModelAccess,
    TooManyChats,
    TooManyChecks,
    UnknownModel,
)
from providers.models import check_model_allowed
from providers.prices import PriceBook
from providers.registry import Provider
from providers.request import ChatRequest
from web.quota import Quotas
from web.spend import NO_RESERVATION, Reservation, Spend
from words import Phrase

from .metering import Ledger, worst_case_tokens
from .request import ChatInputs, plan_request

__all__ = ["KEY_ANSWERS", "Admission", "Admitted", "Caller", "signed_in"]

# What a chat on a stolen key would learn: the key is wrong, or it works but not for this model.
KEY_ANSWERS = (InvalidKey, NoModelAccess, UnknownModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    client: str
    # False when a gate is configured and this caller has not passed it (BYO-exempt visitors).
    may_use_server_keys: bool
    visitor_key: Secret | None = None
    # Where a Space offers Hugging Face sign-in: this browser's sign-in (None elsewhere).
    sign_in: HubSignIn | None = None
    # The browser (cookie digest) the sign-in belongs to, to forget a token the provider refuses.
    browser: str = ""


@dataclass(frozen=True, slots=True)
class Admitted:
    request: ChatRequest
    # None on a provider that takes no key.
    key: Secret | None
    # What the reply holds against the spend limits until it is settled.
    reservation: Reservation
    # Whether the operator pays: a server key, or the operator's keyless server.
    metered: bool


class Admission:
    def __init__(
        self,
        settings: Settings,
        *,
        counter: CounterStore,
        quotas: Quotas,
        spend: Spend,
        prices: PriceBook,
        ledger: Ledger,
    ) -> None:
        self.settings = settings
        self.counter = counter
        self.quotas = quotas
        self.spend = spend
        self.prices = prices
        self.ledger = ledger
        # Chats per client from the moment they are queued or started until they end.
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def may_queue(self, client: str, provider_id: object, queued: int) -> None:
        """Raise TooManyChats when ``queued`` (this client's chats already waiting or running) has
        reached MAX_CHATS_PER_CLIENT: one client cannot fill the queue in front of everyone else."""
        limit = self.settings.max_chats_per_client
        if queued >= limit:
            refused = TooManyChats(limit)
            self.ledger.refused(client, self.settings.provider(provider_id), refused)
            raise refused

    @contextmanager
    def running(self, client: str, provider_id: object) -> Iterator[None]:
        """One more chat of this client's running, within MAX_CHATS_PER_CLIENT. The queue already
        refuses extra chats as they join; this holds for chats that reach a slot some other way."""
        limit = self.settings.max_chats_per_client
        with self._lock:
            full = self._in_flight.get(client, 0) >= limit
            if not full:
                self._in_flight[client] = self._in_flight.get(client, 0) + 1
        if full:
            refused = TooManyChats(limit)
            self.ledger.refused(client, self.settings.provider(provider_id), refused)
            raise refused
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[client] -= 1
                if not self._in_flight[client]:
                    del self._in_flight[client]

    async def admit(self, caller: Caller, inputs: ChatInputs, notify: Callable[[str], None] | None) -> Admitted:
        """The request we will make and what it spends; or the ByokError that refuses it before
        anything is sent. Files are decoded once the key and the quota would say yes, and the
        request is counted against the quota only once the spend limits have said yes too: a
        refused chat uses up nothing."""
        plan = plan_request(self.settings, inputs)
        provider = plan.provider
        key = self.key_for(provider, caller)
        on_server_key = key is not None and key is self.settings.server_key(provider.id)
        check_model_allowed(self.settings, provider, plan.model, on_server_key=on_server_key)
        # A keyless operator server is metered like a server key, whatever key the visitor sent;
        # a visitor's own key on a row that takes keys costs the operator nothing.
        metered = on_server_key or (not provider.needs_key and self.settings.operators_spend(provider))
        if metered:
            # Fails closed: with the counter store down these raise CounterUnavailable and no
            # server key is spent.
            self.quotas.has_room(caller.client)
        elif caller.visitor_key is not None:
            self._checks_left(caller.client)
        request = plan.build(await plan.read_files())
        # Reserved once the request is known in full (its files are part of the worst case).
        reservation = self._reserve(caller, request) if on_server_key else NO_RESERVATION
        if metered:
            try:
                self.quotas.admit(caller.client)
            except BaseException:
                # Another chat of this client's took the last request meanwhile: hold nothing.
                self.spend.settle(reservation, 0.0)
                raise
        for note in request.notes:
            if notify is not None:
                notify(note)
        return Admitted(request, key, reservation, metered)

    def _checks_left(self, client: str) -> None:
        """A chat on a visitor's key answers "does this key work?" like Check my key does: refused
        once the client's checks are spent. A counter store outage never stops a visitor's key."""
        try:
            self.quotas.checks_left(client)
        except CounterUnavailable:
            self.counter.note_skipped()

    def count_check(self, client: str) -> None:
        # The chat has failed already; once the checks are spent, the next one is not sent.
        with contextlib.suppress(TooManyChecks, CounterUnavailable):
            self.quotas.admit_check(client)

    def _reserve(self, caller: Caller, request: ChatRequest) -> Reservation:
        if not self.spend.limited:
            return NO_RESERVATION
        prompt, output = worst_case_tokens(request)
        worst = self.prices.cost(request.provider, request.model, prompt, output)
        if worst is None:
            raise ModelNotPriced(request.provider.label)
        return self.spend.reserve(caller.client, worst)

    def key_for(self, provider: Provider, caller: Caller) -> Secret | None:
        own_key = caller.visitor_key is not None and provider.needs_key
        if caller.may_use_server_keys or own_key or signed_in(provider, caller):
            return resolve_key(
                provider,
                self.settings,
                visitor_key=caller.visitor_key,
                sign_in=caller.sign_in,
                server_key_allowed=caller.may_use_server_keys,
            )
        if self.settings.operators_spend(provider):
            page, script = self.server_key_refusal(provider)
            title = None if self.settings.access_codes else "title_sign_in_needed"
            raise AccessDenied(page, script=script, title_key=title)
        return resolve_key(provider, self.settings, visitor_key=None, sign_in=caller.sign_in)

    def server_key_refusal(self, provider: Provider) -> tuple[Phrase, Phrase]:
        """Why this caller may not use the server's key and what they can do instead: for the page,
        and for scripts."""
        params = {"provider": provider.label, "header": KEY_HEADER, "code_header": CODE_HEADER}
        if not provider.needs_key:
            page = "server_refused_keyless_code" if self.settings.access_codes else "server_refused_keyless_sign_in"
            return Phrase(page, params), Phrase("script_server_refused_keyless", params)
        if self.settings.access_codes:
            return Phrase("server_refused_code", params), Phrase("script_server_refused_code", params)
        return Phrase("server_refused_sign_in", params), Phrase("script_server_refused_sign_in", params)


def signed_in(provider: Provider, caller: Caller) -> bool:
    """Would this caller's Hugging Face sign-in pay for a chat to ``provider`` (typed keys aside)?"""
    return provider.id == HUB_ROW and caller.sign_in is not None and caller.sign_in.token is not None
