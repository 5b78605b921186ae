"""The one adapter: stream a chat from any OpenAI-compatible provider through the openai SDK.

One request, one key, an explicit ``base_url``. The HTTP connection pool (and its TLS context)
is shared by every request on the event loop; the key is not: each request gets a light client
object carrying only its own key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import httpx2
import openai
from openai.types.chat import ChatCompletionChunk

from .classify import classify, error_for
from .classify import retry_after as _retry_after
from .conversation import CUT_OFF_MARK, ChatRequest
from .error_formats import Cause
from .errors import (
    CannotConnect,
    EmptyReply,
    InputRejected,
    ProviderError,
    ProviderTimeout,
    ReplyCutOff,
)
from .keys import Secret
from .urlguard import close_guarded_pools, guarded_pool

__all__ = ["CUT_OFF_MARK", "ChatStream", "Usage", "close_pools"]

log = logging.getLogger("byok_chat.chat")

# Local servers ignore Authorization, but the SDK must never get an empty key: it would fall back
# to OPENAI_API_KEY from the environment and send it to the local server.
NO_KEY_PLACEHOLDER = "no-key-needed"
# The SDK reads these from the environment and would send them to every provider.
_NO_AMBIENT_HEADERS = {"OpenAI-Organization": openai.omit, "OpenAI-Project": openai.omit}

_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = weakref.WeakKeyDictionary()


def _http_pool() -> httpx2.AsyncClient:
    """The event loop's shared connection pool (an httpx client is bound to one loop)."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None or pool.is_closed:
        pool = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=200),
            # A provider API has no reason to redirect a POST; following one could carry the
            # request body to a host the operator never configured.
            follow_redirects=False,
        )
        _POOLS[loop] = pool
    return pool


async def close_pools() -> None:
    loop = asyncio.get_running_loop()
    pool = _POOLS.pop(loop, None)
    if pool is not None:
        await pool.aclose()
    await close_guarded_pools()


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatStream:
    """Iterate to get the reply so far, at most one update per ``update_interval`` seconds.

    The first text is yielded at once; later chunks are coalesced so a fast model does not cost
    one UI update per token (each costs Gradio about 230 µs of CPU; ten a second read as smooth).
    The full text is always yielded last. After iteration, ``usage`` holds the provider's token
    counts (or an estimate when it sent none).
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
    ) -> None:
        self.request = request
        self._key = key
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_seconds = max_seconds
        self._update_interval = update_interval
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        # Everything received so far, including text still held back by coalescing: a failure
        # must keep all of it, not only what the last update showed.
        self._received = ""

    async def __aiter__(self) -> AsyncIterator[str]:
        provider = self.request.provider
        text = ""
        try:
            async with aclosing(self._coalesced()) as updates:
                async for text in updates:
                    yield text
        except InputRejected:
            raise  # the guard refused the visitor's URL: its message is already fixed and clear
        except ProviderError as error:
            raise self._failure(error, self._received) from None
        except openai.APIError as exc:
            raise self._failure(_map_api_error(exc, self.request), self._received) from None
        except (httpx2.TimeoutException, TimeoutError):
            raise self._failure(ProviderTimeout(provider.label), self._received) from None
        except (httpx2.TransportError, OSError):
            raise self._failure(CannotConnect(provider.label), self._received) from None
        except Exception as exc:  # noqa: BLE001 - malformed SSE and the like; never pass provider text on
            log.warning("unexpected %s from provider %s", type(exc).__name__, provider.id)
            raise self._failure(ProviderError(provider.label), self._received) from None
        if self.finish_reason is None:
            raise ReplyCutOff(provider.label, partial=text)
        if not text.strip():
            raise EmptyReply(provider.label)

    def _failure(self, error: ProviderError, partial: str) -> ProviderError:
        log.warning(
            "chat failed: provider=%s model=%s error=%s status=%s",
            self.request.provider.id,
            self.request.model,
            type(error).__name__,
            error.status,
        )
        return ReplyCutOff(error.label, partial=partial) if partial else error

    async def _coalesced(self) -> AsyncIterator[str]:
        text = ""
        last_sent = ""
        next_at = 0.0
        async with aclosing(self._deltas()) as deltas:
            async for delta in deltas:
                text += delta
                self._received = text
                now = time.monotonic()
                if now >= next_at:
                    yield text
                    last_sent = text
                    next_at = now + self._update_interval
        if text != last_sent:
            yield text

    async def _deltas(self) -> AsyncIterator[str]:
        request = self.request
        provider = request.provider
        # A slow drip, or a provider sending only SSE keep-alive comments, never trips the read
        # timeout, so the whole reply has a deadline too.
        reply_deadline = asyncio.get_running_loop().time() + self._max_seconds
        client = openai.AsyncOpenAI(
            api_key=self._key.reveal() if self._key is not None else NO_KEY_PLACEHOLDER,
            base_url=request.base_url,
            # A visitor-typed URL goes through the guard that vets every address it connects to.
            http_client=guarded_pool(allow_local=request.allow_local) if request.visitor_base_url else _http_pool(),
            timeout=self._timeout,
            # We retry in _open: the SDK's own retries multiply REQUEST_TIMEOUT and sleep through
            # a Retry-After of up to two minutes before the user hears anything.
            max_retries=0,
            default_headers=_NO_AMBIENT_HEADERS,
        )
        options: dict[str, object] = {provider.max_tokens_param: request.max_tokens}
        if provider.stream_usage:
            options["stream_options"] = {"include_usage": True}
        stream = await self._open(
            client,
            model=request.model,
            messages=list(request.messages),
            temperature=request.temperature,
            stream=True,
            **options,
        )
        completion_chars = 0
        chunks = stream.__aiter__()
        try:
            while (chunk := await _next_chunk(chunks, reply_deadline, provider.label)) is not None:
                if chunk.usage is not None:
                    self.usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0, False)
                for choice in chunk.choices:
                    if choice.finish_reason:
                        self.finish_reason = choice.finish_reason
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        completion_chars += len(delta)
                        yield delta
        finally:
            # Stop, a closed tab or an error: release the upstream connection now.
            await stream.close()
            if self.usage is None:
                # Estimated even for a stopped reply, so Stop is no way around a token quota.
                prompt_chars = sum(len(m["content"]) for m in request.messages)
                self.usage = Usage(_estimate_tokens(prompt_chars), _estimate_tokens(completion_chars), True)

    async def _open(self, client: openai.AsyncOpenAI, **create: object) -> openai.AsyncStream[ChatCompletionChunk]:
        """Start the stream. Retries included, the stream or the error comes within REQUEST_TIMEOUT."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        attempt = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    return await client.chat.completions.create(**create)  # type: ignore[no-any-return,call-overload]
            except TimeoutError:
                raise ProviderTimeout(self.request.provider.label) from None
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                delay = _retry_delay(exc, attempt, self._max_retries)
                # A retry that cannot finish in time only makes the user wait for the same error.
                if delay is None or loop.time() + delay >= deadline:
                    raise
                log.info("retrying provider=%s in %.2fs (attempt %d)", self.request.provider.id, delay, attempt + 2)
                attempt += 1
                await asyncio.sleep(delay)


async def _next_chunk(
    chunks: AsyncIterator[ChatCompletionChunk], deadline: float, label: str
) -> ChatCompletionChunk | None:
    """The next chunk, None at the end; ProviderTimeout at ``deadline`` even while nothing arrives."""
    try:
        # Only the wait for one chunk is under the timeout, never our consumer's code.
        async with asyncio.timeout_at(deadline):
            return await anext(chunks)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        raise ProviderTimeout(label) from None


def _retry_delay(exc: openai.APIError, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before trying again, or None when this failure is not worth a retry."""
    if attempt >= max_retries:
        return None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status not in (408, 409, 429) and status < 500:
            return None
        # The shared tables only: whether credit is gone and how long to wait read the same everywhere.
        diagnosis = classify(status, exc.response.headers, _raw_body(exc), "")
        if diagnosis.cause is Cause.NO_CREDIT:
            return None  # no amount of waiting adds credit
        # Retry-After, or the wait Google puts in the body (RetryInfo) when there is no header.
        retry_after = _retry_after(exc.response.headers) if diagnosis.retry_after is None else diagnosis.retry_after
        if retry_after is not None:
            return retry_after
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def _estimate_tokens(chars: int) -> int:
    # About four characters a token for English text; good enough for quotas when a provider
    # sends no usage.
    return (chars + 3) // 4


def _map_api_error(exc: openai.APIError, request: ChatRequest) -> ProviderError:
    label = request.provider.label
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(label)
    if isinstance(exc, openai.APIConnectionError):
        return CannotConnect(label)
    if isinstance(exc, openai.APIStatusError):
        status, headers, body = exc.status_code, exc.response.headers, _raw_body(exc)
    else:
        status, headers, body = None, {}, {"error": exc.body}  # an `error` event inside the stream
    return error_for(classify(status, headers, body, request.provider.id), label, model=request.model)


def _raw_body(exc: openai.APIStatusError) -> bytes | object:
    try:
        return exc.response.content
    except Exception:  # noqa: BLE001 - a body never read (closed early): the SDK's parsed copy will do
        return exc.body
