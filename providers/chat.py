"""The one adapter: stream a chat from any OpenAI-compatible provider, reading the SSE lines itself.

One request, one key, an explicit ``base_url``. The openai SDK builds and sends the request over a
pool shared by every request on the event loop (``transport``); the key is not shared: it goes
into one request's ``Authorization`` header and nowhere else.

The stream is read from the SDK's raw streaming response as server-sent events, decoded with
orjson, not through the SDK's typed chunks: that costs about a tenth of the CPU per chunk
(bench/RESULTS.md), and lets the reader take fields the SDK's types do not know
(``reasoning_content``, ``reasoning``, OpenRouter's ``usage.cost``). Every failure still ends as
one of our fixed messages; which one is decided by :func:`transport.provider_error` and the
SDK's typed errors in :func:`transport.open_stream` alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass

import httpx2
import orjson

from config.secret import Secret
from errors import (
    CannotConnect,
    EmptyReply,
    InputRejected,
    ProviderError,
    ProviderTimeout,
    ReplyCutOff,
)

from .reasoning import ThinkSplitter
from .request import ChatRequest, content_chars
from .transport import NO_KEY_PLACEHOLDER, close_pools, open_stream, provider_error

__all__ = ["NO_KEY_PLACEHOLDER", "ChatStream", "Reply", "ReplyStats", "Usage", "close_pools"]

log = logging.getLogger("byok_chat.chat")

# Output tokens a second we assume a model spends thinking where it does not show its thoughts:
# a middle figure for today's reasoning models (tens to a few hundred a second).
HIDDEN_THINKING_RATE = 100


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    # Reasoning tokens included: providers count them as output (and bill them so).
    completion_tokens: int
    estimated: bool
    # What the provider says the reply cost, where it says so (OpenRouter's `usage.cost`, in credits/USD).
    cost: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ReplyStats:
    """How one finished reply went: shown under it, never sent upstream."""

    usage: Usage
    first_token_seconds: float | None
    total_seconds: float
    # US dollars: what the provider said it cost, else priced by the caller (providers/prices.py).
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The reply so far, as the visitor should see it."""

    text: str
    reasoning: str
    # Seconds the model thought, once the answer has started (None while it is still thinking).
    thinking_seconds: float | None
    # Only on the last update of a reply that ended normally.
    stats: ReplyStats | None = None


class _StreamFailed(Exception):
    """An error object inside the stream; carries the event's bytes for classification only."""

    def __init__(self, body: bytes) -> None:
        super().__init__("error event")
        self.body = body


class _Malformed(Exception):
    """A data line that is not JSON."""


class ChatStream:
    """Iterate to get the reply text so far, at most one update per ``update_interval`` seconds.

    :meth:`replies` gives the same updates with the model's reasoning as :class:`Reply` objects.
    The first text is yielded at once; later chunks are coalesced so a fast model does not cost
    one UI update per token (each costs Gradio about 230 µs of CPU; ten a second read as smooth).
    The full text is always yielded last. After iteration, ``usage`` holds the provider's token
    counts (or an estimate when it sent none), and ``first_token_seconds`` / ``total_seconds``
    the time to the first token (thinking included) and to the end.
    """

    def __init__(
        self,
        request: ChatRequest,
        *,
        key: Secret | None,
        timeout: float,
        max_retries: int = 1,
        max_seconds: float = 600.0,
        update_interval: float = 0.1,
        bill_to: str | None = None,
    ) -> None:
        self.request = request
        self._key = key
        # Hugging Face's router bills this organisation instead of the token's owner.
        self._bill_to = bill_to
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_seconds = max_seconds
        self._update_interval = update_interval
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.first_token_seconds: float | None = None
        self.total_seconds: float | None = None
        # Everything received so far, including text still held back by coalescing: a failure
        # must keep all of it, not only what the last update showed. Lists, joined when needed:
        # growing one string would copy the whole reply on every chunk.
        self._text: list[str] = []
        self._reasoning: list[str] = []
        # Characters of reply and reasoning received so far, for an estimate at any moment.
        self._completion_chars = 0
        # Whether the provider may bill this request: from the moment it is sent until it is refused
        # with an error status (billed nothing). A request stopped or timed out while the provider
        # is still silent may well be billed, at least for its prompt.
        self._billable = False
        # When the request was sent (time.monotonic), for a guess at unseen thinking.
        self._sent_at: float | None = None

    def usage_now(self) -> Usage | None:
        """The provider's count, or an estimate of what it bills for what has streamed so far;
        None when the provider never had the request or refused it. Callable at any moment, so a reply
        that ends while an upstream close is still pending is counted all the same."""
        if self.usage is not None:
            return self.usage
        if not self._billable:
            return None
        # Estimated even for a stopped reply, so Stop is no way around a quota; reasoning counts,
        # as providers bill it as output.
        prompt_chars = sum(content_chars(m["content"]) for m in self.request.messages)
        completion = _estimate_tokens(self._completion_chars) + self._unseen_thinking_tokens()
        return Usage(_estimate_tokens(prompt_chars), completion, True)

    def _unseen_thinking_tokens(self) -> int:
        """A guess at the reasoning a model did without showing it (OpenAI's and Gemini's models
        think in private, and bill it as output): the time before its first visible token, at
        HIDDEN_THINKING_RATE, at most max_tokens. Zero for a model that does not reason or that
        showed its reasoning (counted as text); small where reasoning was off, as it answers at once."""
        control = self.request.provider.family(self.request.model).reasoning
        if self._sent_at is None or self._reasoning or control is None:
            return 0
        waited = self.first_token_seconds
        if waited is None:
            # Monotonic, as the event loop's clock: this may run on another thread (at SIGTERM).
            waited = time.monotonic() - self._sent_at
        return min(self.request.max_tokens, round(waited * HIDDEN_THINKING_RATE))

    def _set_billable(self, billable: bool) -> None:
        self._billable = billable

    async def __aiter__(self) -> AsyncIterator[str]:
        shown = ""
        async with aclosing(self.replies()) as replies:
            async for reply in replies:
                if reply.text != shown:
                    shown = reply.text
                    yield shown

    async def replies(self) -> AsyncIterator[Reply]:
        provider = self.request.provider
        text = ""
        try:
            async with aclosing(self._coalesced()) as updates:
                async for reply in updates:
                    text = reply.text
                    yield reply
        except InputRejected:
            raise  # the guard refused the visitor's URL: its message is already fixed and clear
        except ProviderError as error:
            raise self._failure(error) from None
        except _StreamFailed as failed:
            raise self._failure(provider_error(None, failed.body, request=self.request)) from None
        except (httpx2.TimeoutException, TimeoutError):
            raise self._failure(ProviderTimeout(provider.label, seconds=self._timeout)) from None
        except (httpx2.TransportError, OSError):
            raise self._failure(CannotConnect(provider.label)) from None
        except Exception as exc:  # noqa: BLE001 - malformed SSE and the like; never pass provider text on
            log.warning("unexpected %s from provider %s", type(exc).__name__, provider.id)
            raise self._failure(ProviderError(provider.label)) from None
        if self.finish_reason is None:
            raise ReplyCutOff(provider.label, partial=text)
        if not text.strip():
            raise EmptyReply(provider.label)

    def _failure(self, error: ProviderError) -> ProviderError:
        log.warning(
            "chat failed: provider=%s model=%s error=%s status=%s",
            self.request.provider.id,
            self.request.model,
            type(error).__name__,
            error.status,
        )
        partial = "".join(self._text)
        return ReplyCutOff(error.label, partial=partial, cause=error) if partial else error

    async def _coalesced(self) -> AsyncIterator[Reply]:
        text_parts, reasoning_parts = self._text, self._reasoning
        next_at = 0.0
        pending = False
        thinking_seconds: float | None = None
        started = time.monotonic()
        async with aclosing(self._deltas()) as deltas:
            async for reasoning, text in deltas:
                if reasoning:
                    reasoning_parts.append(reasoning)
                if text:
                    if thinking_seconds is None and reasoning_parts:
                        thinking_seconds = time.monotonic() - started
                        next_at = 0.0  # the answer starting is news: show it at once
                    text_parts.append(text)
                now = time.monotonic()
                if now >= next_at:
                    yield Reply("".join(text_parts), "".join(reasoning_parts), thinking_seconds)
                    pending = False
                    next_at = now + self._update_interval
                else:
                    pending = True
        if thinking_seconds is None and reasoning_parts:
            thinking_seconds = time.monotonic() - started
        stats = None
        if self.finish_reason is not None and self.usage is not None:
            stats = ReplyStats(self.usage, self.first_token_seconds, self.total_seconds or 0.0, self.usage.cost)
        if pending or stats is not None:
            # The last update carries the stats: one more update only when the text was all shown.
            yield Reply("".join(text_parts), "".join(reasoning_parts), thinking_seconds, stats)

    async def _deltas(self) -> AsyncIterator[tuple[str, str]]:
        """(reasoning, answer) text of each chunk, read from the raw event stream."""
        request = self.request
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._sent_at = time.monotonic()
        # A slow drip, or a provider sending only SSE keep-alive comments, never trips the read
        # timeout, so the whole reply has a deadline too. It is checked on every network read.
        reply_deadline = started + self._max_seconds
        stack = AsyncExitStack()
        try:
            response = await open_stream(
                stack,
                request,
                key=self._key,
                bill_to=self._bill_to,
                timeout=self._timeout,
                max_retries=self._max_retries,
                billable=self._set_billable,
            )
        except BaseException:
            await stack.aclose()
            raise
        splitter = ThinkSplitter()
        data_lines: list[bytes] = []
        event = b""
        buffer = b""
        done = False
        try:
            async for block in _then_blank_line(response.aiter_bytes()):
                if done:
                    continue  # drain to the end, so the connection goes back to the pool
                lines = (buffer + block).split(b"\n")
                buffer = lines.pop()
                for line in lines:
                    if line.endswith(b"\r"):
                        line = line[:-1]
                    if line:
                        if line.startswith(b"data:"):
                            data_lines.append(line[6:] if line.startswith(b"data: ") else line[5:])
                        elif line.startswith(b"event:"):
                            event = line[6:].strip()
                        # ":" comments (keep-alives), "id:" and "retry:" carry nothing for us.
                        continue
                    if not data_lines:
                        event = b""
                        continue
                    # A blank line ends one event.
                    data = data_lines[0] if len(data_lines) == 1 else b"\n".join(data_lines)
                    data_lines.clear()
                    if data == b"[DONE]":
                        done = True
                        break
                    try:
                        chunk = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        raise _Malformed from None
                    if event == b"error" or (type(chunk) is dict and chunk.get("error")):
                        raise _StreamFailed(data)
                    event = b""
                    if type(chunk) is not dict:
                        raise _Malformed
                    usage = chunk.get("usage")
                    if usage:
                        self.usage = _usage(usage)
                    for choice in chunk.get("choices") or ():
                        finish = choice.get("finish_reason")
                        if finish:
                            self.finish_reason = finish
                        delta = choice.get("delta")
                        if not delta:
                            continue
                        # DeepSeek and older vLLM say reasoning_content; OpenRouter, newer vLLM
                        # and Groq say reasoning (reasoning.py has the sources). Never both added.
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
                        content = delta.get("content") or ""
                        if type(reasoning) is not str or type(content) is not str:
                            raise _Malformed
                        if content:
                            thought, content = splitter.feed(content)
                            if thought:
                                reasoning += thought
                        if reasoning or content:
                            if self.first_token_seconds is None:
                                self.first_token_seconds = loop.time() - started
                            self._completion_chars += len(reasoning) + len(content)
                            yield reasoning, content
                # Checked after each read's text was used (a late block still counts), so a reply
                # that never ends stops within one read of the deadline.
                if not done and loop.time() >= reply_deadline:
                    raise ProviderTimeout(request.provider.label, seconds=self._max_seconds, whole_reply=True)
            thought, content = splitter.flush()
            if thought or content:
                self._completion_chars += len(thought) + len(content)
                yield thought, content
        finally:
            # Counted before the close is awaited: a second cancellation may cut that await short.
            self.usage = self.usage_now()
            self.total_seconds = loop.time() - started
            # Stop, a closed tab or an error: release the upstream connection now.
            await stack.aclose()


async def _then_blank_line(blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body, then an empty line: an event a server sent without its closing blank line before
    hanging up still counts (its finish reason, say)."""
    async for block in blocks:
        yield block
    yield b"\n\n"


def _usage(usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion, cost = usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("cost")
    return Usage(
        prompt if type(prompt) is int else 0,
        completion if type(completion) is int else 0,
        False,
        float(cost) if type(cost) in (int, float) else None,
    )


def _estimate_tokens(chars: int) -> int:
    # About four characters a token for English text; good enough for quotas when a provider
    # sends no usage.
    return (chars + 3) // 4
