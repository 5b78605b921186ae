"""The benchmark's clients: a raw Gradio queue client (asyncio streams), gradio_client, and the
openai SDK.

The raw client does what the browser does for one chat: open a connection, POST
``/gradio_api/queue/join``, then read the session's event stream from ``/gradio_api/queue/data``.
Time to first token (TTFT) is measured from opening the connection to the first event that carries
the reply's first chunk.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2
import openai

# Not a real key: the fake provider ignores it.
BENCH_KEY = "sk-bench-not-a-real-key-000000"
PROVIDER_ID = "groq"


@dataclass(frozen=True)
class Endpoint:
    """Where one app's chat endpoint is and the shape of its inputs, read from ``/config``."""

    url: str
    fn_index: int
    api_name: str
    input_types: tuple[str, ...]

    def payload(self, message: str, model: str) -> list[Any]:
        """The event data: the message, then byok-chat's settings in order; None for each State.

        Gradio takes a State input from the session, not from the request, so its slot is null.
        """
        extras: list[Any] = [PROVIDER_ID, model, "You are a helpful assistant.", 0.7, 1024]
        data: list[Any] = []
        for index, kind in enumerate(self.input_types):
            if index == 0:
                data.append({"text": message, "files": []} if kind == "multimodaltextbox" else message)
            elif kind == "state":
                data.append(None)
            else:
                data.append(extras.pop(0))
        return data


async def discover(http: httpx.AsyncClient, url: str) -> Endpoint:
    """The public chat dependency: api_name "chat" (byok-chat, bare app) or load_chat's."""
    config = (await http.get(f"{url}/config")).json()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    public = [
        (index, dep)
        for index, dep in enumerate(config["dependencies"])
        if dep.get("api_visibility") == "public" and dep.get("api_name")
    ]
    index, dep = next(((i, d) for i, d in public if d["api_name"] == "chat"), public[0])
    return Endpoint(url, index, dep["api_name"], tuple(kinds[i] for i in dep["inputs"]))


@dataclass
class ChatResult:
    ok: bool
    ttft: float | None = None
    total: float = 0.0
    stream_bytes: int = 0
    events: int = 0
    error: str = ""
    text_len: int = 0


@dataclass
class _StreamState:
    result: ChatResult
    started: float
    expected_chars: int
    done: bool = False
    texts: list[str] = field(default_factory=list)


def _first_output(message: dict[str, Any]) -> Any:
    data = (message.get("output") or {}).get("data") or [None]
    return data[0]


def _handle(message: dict[str, Any], state: _StreamState) -> None:
    kind = message.get("msg")
    result = state.result
    if kind == "process_generating" and result.ttft is None and _first_output(message):
        result.ttft = time.perf_counter() - state.started
    elif kind == "process_completed":
        final = _first_output(message)
        text = final if isinstance(final, str) else json.dumps(final)
        result.text_len = len(text)
        result.ok = bool(message.get("success")) and len(text) >= state.expected_chars
        if not result.ok:
            result.error = f"completed: success={message.get('success')} chars={len(text)}"
        state.done = True
    elif kind == "close_stream":
        state.done = True


async def chat_raw(
    endpoint: Endpoint,
    *,
    message: str,
    model: str,
    expected_chunks: int,
    session_hash: str | None = None,
    headers: dict[str, str] | None = None,
) -> ChatResult:
    """One chat over the raw queue protocol on a connection of its own; never raises.

    Plain asyncio streams, not httpx: httpx's pool walks every open connection on each request
    and each close, so at 200 simultaneous chats the client spent three times the app's CPU on
    bookkeeping and the two competed for the same two cores. A browser tab opens its own
    connection, which is what this does: join, then read the session's stream on it.
    """
    session = session_hash or secrets.token_hex(8)
    state = _StreamState(ChatResult(ok=False), time.perf_counter(), expected_chunks * len("tok "))
    body = {
        "data": endpoint.payload(message, model),
        "fn_index": endpoint.fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    stage = "connect"
    writer: asyncio.StreamWriter | None = None
    try:
        conn = _Connection.of(endpoint.url, headers)
        reader, writer = await asyncio.open_connection(conn.host, conn.port)
        stage = "join"
        writer.write(conn.request("POST", "/gradio_api/queue/join", json.dumps(body).encode()))
        status, fields = await _read_head(reader)
        async for _ in _read_body(reader, fields):
            pass
        if status != 200:
            state.result.error = f"join {status}"
            return state.result
        stage = "stream"
        writer.write(conn.request("GET", f"/gradio_api/queue/data?session_hash={session}"))
        status, fields = await _read_head(reader)
        if status != 200:
            state.result.error = f"stream {status}"
            return state.result
        await _read_events(_read_body(reader, fields), state)
    except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
        # Which request failed, and how far the stream had got.
        got = "after first token" if state.result.ttft is not None else f"after {state.result.events} events"
        state.result.error = f"{stage} {got}: {type(exc).__name__}: {exc}"[:200]
    finally:
        if writer is not None:
            writer.close()
    state.result.total = time.perf_counter() - state.started
    return state.result


@dataclass(frozen=True)
class _Connection:
    host: str
    port: int
    prefix: str
    extra: bytes

    @classmethod
    def of(cls, url: str, headers: dict[str, str] | None) -> _Connection:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"the raw client speaks plain http only: {url}")
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
        extra = f"host: {host}\r\n" + extra
        return cls(parts.hostname, parts.port or 80, parts.path.rstrip("/"), extra.encode())

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode() + self.extra
        if method == "POST":
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n".encode()
        return head + b"\r\n" + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return status, fields


async def _read_body(reader: asyncio.StreamReader, fields: dict[str, str]) -> AsyncIterator[bytes]:
    """The response body as it arrives: chunked, by length, or until the server closes."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            yield await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
    elif "content-length" in fields:
        if length := int(fields["content-length"]):
            yield await reader.readexactly(length)
    else:
        while data := await reader.read(65536):
            yield data


async def _read_events(body: AsyncIterator[bytes], state: _StreamState) -> None:
    buffer = b""
    async for raw in body:
        state.result.stream_bytes += len(raw)
        buffer += raw
        # SSE events end with a blank line; parse only the complete ones.
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    state.result.events += 1
                    _handle(json.loads(line[5:]), state)
        if state.done:
            return
    raise EOFError("the stream ended before the reply completed")


def http_client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0, connect=30.0))


async def hold_heartbeat(http: httpx.AsyncClient, url: str, session: str, opened: asyncio.Event) -> None:
    """Keep a session's heartbeat connection open, as a browser tab does, until cancelled."""
    async with http.stream("GET", f"{url}/gradio_api/heartbeat/{session}") as response:
        async for _ in response.aiter_raw():
            opened.set()


# --- the openai SDK, called directly: the latency floor -------------------------------------


async def chat_direct(sdk: openai.AsyncOpenAI, *, model: str, message: str, expected_chunks: int) -> ChatResult:
    started = time.perf_counter()
    result = ChatResult(ok=False)
    text = ""
    try:
        stream = await sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": message}], stream=True
        )
        async for chunk in stream:
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                if result.ttft is None:
                    result.ttft = time.perf_counter() - started
                text += delta
        result.ok = len(text) >= expected_chunks * len("tok ")
    except openai.APIError as exc:
        result.error = type(exc).__name__
    result.total = time.perf_counter() - started
    result.text_len = len(text)
    return result


def direct_sdk(base_url: str, connections: int) -> openai.AsyncOpenAI:
    pool = openai.DefaultAsyncHttpxClient(
        limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    )
    return openai.AsyncOpenAI(api_key=BENCH_KEY, base_url=base_url, http_client=pool, max_retries=0)


# --- gradio_client ------------------------------------------------------------------------------


def ttft_gradio_client(
    url: str, api_name: str, multimodal: bool, *, message: str, model: str, runs: int
) -> list[float]:
    """Sequential chats through gradio_client; TTFT = submit() to the first non-empty output."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    args: tuple[Any, ...]
    if multimodal:
        args = ({"text": message, "files": []},)
    else:
        args = (message, PROVIDER_ID, model, "You are a helpful assistant.", 0.7, 1024)
    times: list[float] = []
    try:
        for _ in range(runs):
            # A new session per chat, like the raw client. It also keeps gr.load_chat working:
            # it fails on any second turn from gradio_client, whose history holds plain strings.
            client.reset_session()
            started = time.perf_counter()
            job = client.submit(*args, api_name=f"/{api_name}")
            first: float | None = None
            for output in job:
                if first is None and output:
                    first = time.perf_counter() - started
            if first is not None:
                times.append(first)
    finally:
        client.close()
    return times
