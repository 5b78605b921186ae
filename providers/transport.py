"""Sending one chat request through the openai SDK, and what its failures mean.

One ``AsyncOpenAI`` client per base URL (and event loop), over our own pools (``pool``, or the
visitor-URL guard in ``urlguard``); the key goes into one request's ``Authorization`` header and
nowhere else. The SDK builds and sends the request and raises its typed errors; the stream itself
is read by ``chat.ChatStream`` from the SDK's raw streaming response (``with_streaming_response``),
not through its typed chunks, which cost about ten times the CPU per chunk (bench/RESULTS.md).

The SDK reads ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``,
``OPENAI_ADMIN_KEY`` and ``OPENAI_CUSTOM_HEADERS`` from the environment. None of them may reach a
provider: the client gets an explicit base URL and a placeholder key, and its default headers are
ours alone (``_Client``), so no organisation, project or custom header of the environment is sent.
The SDK never retries (``max_retries=0``): :func:`open_stream` does, within the request timeout.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack

import httpx2
import openai
from openai import AsyncOpenAI

from config.secret import Secret
from errors import CannotConnect, ImagesNotAccepted, ProviderError, ProviderTimeout, RequestRefused

from .classify import Diagnosis, classify, error_for, retry_after
from .error_formats import Cause
from .pool import close_shared_pool, shared_pool
from .reasoning import effort_options
from .request import ChatRequest
from .urlguard import close_guarded_pools, guarded_pool

__all__ = ["BILL_TO_HEADER", "NO_KEY_PLACEHOLDER", "close_pools", "images_refused", "open_stream", "provider_error"]

log = logging.getLogger("byok_chat.chat")

# Local servers ignore Authorization, but a request always carries an explicit key: never an
# empty header, never a key from the environment.
NO_KEY_PLACEHOLDER = "no-key-needed"
# Which organisation Hugging Face bills for a request made with a member's token ("Billing for Team
# and Enterprise organizations", https://huggingface.co/docs/inference-providers/pricing; the
# huggingface_hub client sends it for InferenceClient(bill_to=...)).
BILL_TO_HEADER = "X-HF-Bill-To"
# The headers every chat request carries besides its key; nothing of the environment's.
_HEADERS = {"Accept": "text/event-stream", "Content-Type": "application/json", "User-Agent": "byok-chat"}
# Request fields the SDK's create() takes by name. Any other field goes in extra_body: a
# provider's own reasoning form, and the messages. create() walks every message against each of
# the SDK's message types to apply aliases and formats that chat messages do not have: 0.5 ms of
# CPU for one message and 7.6 ms for forty, on the event loop (bench/RESULTS.md), for a body that
# comes out the same.
_TYPED_FIELDS = frozenset(
    {"model", "stream", "temperature", "max_tokens", "max_completion_tokens", "stream_options", "reasoning_effort"}
)
# Clients for visitors' own endpoints, per event loop: the least recently used go first.
_MAX_VISITOR_CLIENTS = 64


class _Client(AsyncOpenAI):
    """The SDK's client with our default headers only: none of the organisation, project or
    ``OPENAI_CUSTOM_HEADERS`` values the SDK took from the environment."""

    @property
    def default_headers(self) -> dict[str, str | openai.Omit]:
        return dict(_HEADERS)


class _Clients:
    """One event loop's SDK clients: per operator base URL, and a bounded few for visitors' URLs."""

    def __init__(self) -> None:
        self.operator: dict[str, _Client] = {}
        self.visitor: OrderedDict[tuple[str, bool], _Client] = OrderedDict()

    def for_request(self, request: ChatRequest, timeout: float) -> _Client:
        if request.visitor_base_url is None:
            client = self.operator.get(request.base_url)
            if client is None:
                client = self.operator[request.base_url] = _new_client(request.base_url, shared_pool(), timeout)
            return client
        slot = (request.visitor_base_url, request.allow_local)
        client = self.visitor.get(slot)
        if client is None:
            pool = guarded_pool(allow_local=request.allow_local)
            client = self.visitor[slot] = _new_client(request.visitor_base_url, pool, timeout)
            while len(self.visitor) > _MAX_VISITOR_CLIENTS:
                # The pool is shared, so dropping a client closes nothing.
                self.visitor.popitem(last=False)
        else:
            self.visitor.move_to_end(slot)
        return client


def _new_client(base_url: str, pool: httpx2.AsyncClient, timeout: float) -> _Client:
    return _Client(
        # Never None: the SDK would take OPENAI_API_KEY and OPENAI_BASE_URL from the environment.
        api_key=NO_KEY_PLACEHOLDER,
        base_url=base_url,
        http_client=pool,
        max_retries=0,
        timeout=timeout,
    )


_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clients] = weakref.WeakKeyDictionary()


def _clients() -> _Clients:
    loop = asyncio.get_running_loop()
    clients = _CLIENTS.get(loop)
    if clients is None:
        clients = _CLIENTS[loop] = _Clients()
    return clients


async def close_pools() -> None:
    """Close this event loop's pools; its SDK clients go with them (they own no connection)."""
    _CLIENTS.pop(asyncio.get_running_loop(), None)
    await close_shared_pool()
    await close_guarded_pools()


def request_fields(request: ChatRequest) -> dict[str, object]:
    """The request as the model's family in the registry says it takes it: which max-tokens
    field, which effort form. Sampling settings go only where someone chose them (the
    conversation has refused any the family does not take)."""
    family = request.provider.family(request.model)
    control = family.reasoning
    budget = control.budget(request.effort) if control is not None else 0
    body: dict[str, object] = {"model": request.model, "messages": list(request.messages), "stream": True}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    body[family.max_tokens_field] = request.max_tokens + budget
    if request.provider.stream_usage:
        body["stream_options"] = {"include_usage": True}
    body.update(effort_options(control, request.effort))
    return body


async def open_stream(
    stack: AsyncExitStack,
    request: ChatRequest,
    *,
    key: Secret | None,
    bill_to: str | None,
    timeout: float,
    max_retries: int,
    billable: Callable[[bool], None],
) -> httpx2.Response:
    """Send the request and return the open event stream (closed with ``stack``), or raise one of
    our errors. Retries included, the stream or the error comes within ``timeout``. ``billable``
    hears whether the provider may bill the request: from the moment it is sent until it is
    refused with an error status or never arrived."""
    client = _clients().for_request(request, timeout)
    headers = {"Authorization": f"Bearer {key.reveal() if key is not None else NO_KEY_PLACEHOLDER}"}
    if bill_to:
        headers[BILL_TO_HEADER] = bill_to
    fields = request_fields(request)
    typed = {name: value for name, value in fields.items() if name in _TYPED_FIELDS}
    extra = {name: value for name, value in fields.items() if name not in _TYPED_FIELDS}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    attempt = 0
    while True:
        diagnosis: Diagnosis | None = None
        error_headers: Mapping[str, str] = {}
        try:
            async with asyncio.timeout_at(deadline):
                billable(True)
                started = client.chat.completions.with_streaming_response.create(
                    **typed,  # type: ignore[arg-type]
                    messages=(),  # sent in extra_body, which replaces this empty list
                    extra_headers=headers,
                    extra_body=extra,
                    timeout=timeout,
                )
                response = await stack.enter_async_context(started)
                return response.http_response
        except (TimeoutError, openai.APITimeoutError):
            raise ProviderTimeout(request.provider.label, seconds=timeout) from None
        except openai.APIStatusError as error:
            billable(False)
            error_headers = error.response.headers
            # The body as the pool let the SDK read it: at most pool.MAX_ERROR_BODY bytes.
            diagnosis = classify(error.status_code, error_headers, error.response.content, request.provider.id)
            failure = images_refused(error_for(diagnosis, request.provider.label, model=request.model), request)
        except openai.APIConnectionError:
            # The URL guard's refusals (a blocked address, a redirect) are not among the errors the
            # SDK wraps: they pass through it unchanged, as InputRejected with their fixed message
            # (tests/providers/test_urlguard.py, test_sdk_transport.py).
            billable(False)  # it never reached the provider, or never came back from it
            failure = CannotConnect(request.provider.label)
        delay = _retry_delay(failure, diagnosis, error_headers, attempt, max_retries)
        # A retry that cannot finish in time only makes the user wait for the same error.
        if delay is None or loop.time() + delay >= deadline:
            raise failure
        log.info("retrying provider=%s in %.2fs (attempt %d)", request.provider.id, delay, attempt + 2)
        attempt += 1
        await asyncio.sleep(delay)


def _retry_delay(
    failure: ProviderError, diagnosis: Diagnosis | None, headers: Mapping[str, str], attempt: int, max_retries: int
) -> float | None:
    """Seconds to wait before trying again, or None when this failure is not worth a retry."""
    if attempt >= max_retries:
        return None
    if diagnosis is not None:  # an HTTP error status
        status = diagnosis.status or 0
        if status not in (408, 409, 429) and status < 500:
            return None  # a wrong key, model or setting stays wrong
        if diagnosis.cause is Cause.NO_CREDIT:
            return None  # no amount of waiting adds credit
        # Retry-After, or the wait Google puts in the body (RetryInfo) when there is no header.
        wait = retry_after(headers) if diagnosis.retry_after is None else diagnosis.retry_after
        if wait is not None:
            return wait
    elif not isinstance(failure, CannotConnect):
        return None
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def provider_error(
    status: int | None,
    body: bytes,
    *,
    request: ChatRequest,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """Our error for a provider's failure: an HTTP status with its body, or (status None) an error
    object inside the stream. The body is read for matching only and never reaches the message
    (classify.py, with its per-provider tables in error_formats.py)."""
    diagnosis = classify(status, headers or {}, body, request.provider.id)
    return images_refused(error_for(diagnosis, request.provider.label, model=request.model), request)


def images_refused(error: ProviderError, request: ChatRequest) -> ProviderError:
    """OpenAI answers 400 "image_url is only supported by certain models"; others word it their own
    way. A request with images refused for no reason we recognise is most likely the images."""
    if request.has_images and type(error) is RequestRefused and error.status in (400, 415, 422):
        return ImagesNotAccepted(request.provider.label, status=error.status)
    return error
