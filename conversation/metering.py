"""Every reply is counted exactly once, however it ends.

A reply can end in many places: its last chunk, an error, Stop (a cancelled task), a closed tab
(Gradio closes the handler's generator between two updates), a cancelled script call, or the
server shutting down with the reply still streaming. Each of those paths calls :meth:`Tab.settle`;
the first call counts the reply, any later one does nothing. The :class:`Ledger` knows every reply
still open, so a shutdown can settle them before the process exits.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from config.storage import CounterStore
from errors import ByokError, CounterUnavailable
from providers.chat import ChatStream, Usage
from providers.prices import PriceBook
from providers.registry import Provider
from providers.request import ChatRequest, content_chars
from web.quota import Quotas
from web.spend import NO_RESERVATION, Reservation, Spend

__all__ = ["Chat", "Ledger", "Tab", "worst_case_tokens"]

# Upper bounds for a reservation: no tokenizer makes more tokens of a text than it has UTF-8 bytes;
# a message's framing costs a few tokens; and no listed model bills an image above this.
_TOKENS_PER_MESSAGE = 8
_TOKENS_PER_IMAGE = 3_000

log = logging.getLogger("byok_chat.usage")


@dataclass(frozen=True, slots=True)
class Chat:
    """Who asked what of whom: the fields of the usage line, never a key or message text."""

    client: str
    provider: Provider
    model: str
    # "server", "visitor", "sign-in" or "none": whose key the reply spends.
    key: str
    # The operator pays (a server key, or a keyless server of the operator's): counted in the quotas.
    metered: bool = False


class Tab:
    """One reply's account, open from admission until it is settled."""

    def __init__(self, ledger: Ledger, chat: Chat, stream: ChatStream, reservation: Reservation) -> None:
        self._ledger = ledger
        self.chat = chat
        self.stream = stream
        self.reservation = reservation
        self._lock = threading.Lock()
        self.settled = False

    def settle(self, outcome: str) -> bool:
        """Count the reply (the provider's usage, else an estimate of what streamed). True the first
        time; False when it was settled already. Never raises: the reply has been shown."""
        with self._lock:
            if self.settled:
                return False
            self.settled = True
        self._ledger.close(self, outcome)
        return True


class Ledger:
    """The replies in flight, and the one place a finished reply is counted and logged."""

    def __init__(self, quotas: Quotas, counter: CounterStore, prices: PriceBook, spend: Spend) -> None:
        self._quotas = quotas
        self._counter = counter
        self._prices = prices
        self._spend = spend
        self._lock = threading.Lock()
        self._open: set[Tab] = set()

    def open(self, chat: Chat, stream: ChatStream, reservation: Reservation = NO_RESERVATION) -> Tab:
        tab = Tab(self, chat, stream, reservation)
        with self._lock:
            self._open.add(tab)
        return tab

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._open)

    def settle_all(self, outcome: str) -> int:
        """Settle every reply still open (at shutdown); how many there were."""
        with self._lock:
            tabs = list(self._open)
        return sum(tab.settle(outcome) for tab in tabs)

    def close(self, tab: Tab, outcome: str) -> None:
        with self._lock:
            self._open.discard(tab)
        chat = tab.chat
        usage = tab.stream.usage_now()
        tokens = usage.total_tokens if usage else 0
        cost = self.cost(chat, usage)
        counted = True
        # A counter store failing now must not turn a shown reply into an error. CounterStore has
        # logged the outage once; this chat just goes uncounted.
        try:
            if chat.metered:
                self._quotas.charge(chat.client, tokens)
                # A reply nobody could price held nothing (spend limits refuse those).
                self._spend.settle(tab.reservation, cost or 0.0)
            self._quotas.record(chat.client, chat.provider.id, tokens, cost or 0.0)
        except CounterUnavailable:
            counted = False
            self._counter.note_skipped()
        _log_chat(chat, outcome, usage, cost, counted)

    def refused(self, client: str, provider: Provider | None, error: ByokError) -> None:
        # One line per refused chat, as for every other: who, where, why. Never the input.
        log.info(
            "chat refused client=%s provider=%s reason=%s",
            client,
            provider.id if provider else "unknown",
            type(error).__name__,
        )

    def cost(self, chat: Chat, usage: Usage | None) -> float | None:
        """US dollars: the provider's own figure where it sent one, else the price of the tokens."""
        if usage is None:
            return 0.0
        if usage.cost is not None:
            return usage.cost
        return self._prices.cost(chat.provider, chat.model, usage.prompt_tokens, usage.completion_tokens)


def worst_case_tokens(request: ChatRequest) -> tuple[int, int]:
    """The most input and output tokens this request can be billed for."""
    prompt = 0
    for message in request.messages:
        content = message["content"]
        prompt += _TOKENS_PER_MESSAGE + _utf8_length(content)
        if isinstance(content, list):
            prompt += _TOKENS_PER_IMAGE * sum(
                1 for p in content if isinstance(p, dict) and p.get("type") == "image_url"
            )
    return prompt, request.max_tokens


def _utf8_length(content: object) -> int:
    if isinstance(content, str):
        return len(content.encode())
    if isinstance(content, list):
        return sum(len(p.get("text", "").encode()) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content_chars(content)


def _log_chat(chat: Chat, outcome: str, usage: Usage | None, cost: float | None, counted: bool) -> None:
    # One line per chat: who, where, how much. Never a key, never message text.
    log.info(
        "chat client=%s provider=%s model=%s key=%s outcome=%s prompt_tokens=%s completion_tokens=%s cost_usd=%s%s%s",
        chat.client,
        chat.provider.id,
        chat.model,
        chat.key,
        outcome,
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
        "unpriced" if cost is None else f"{cost:.6f}",
        " (estimated)" if usage and usage.estimated else "",
        "" if counted else " (not counted: counter store unavailable)",
    )
