"""The benchmark's clients: a raw Gradio queue client (httpx), gradio_client, and the openai SDK.

The raw client does what the browser does for one chat: POST ``/gradio_api/queue/join``, then read
the session's event stream from ``/gradio_api/queue/data``. Time to first token (TTFT) is measured
from the join request to the first event that carries the reply's first chunk.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

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
    http: httpx.AsyncClient,
    endpoint: Endpoint,
    *,
    message: str,
    model: str,
    expected_chunks: int,
    session_hash: str | None = None,
    headers: dict[str, str] | None = None,
) -> ChatResult:
    """One chat over the raw queue protocol; never raises (a failure is a result)."""
    session = session_hash or secrets.token_hex(8)
    state = _StreamState(ChatResult(ok=False), time.perf_counter(), expected_chunks * len("tok "))
    body = {
        "data": endpoint.payload(message, model),
        "fn_index": endpoint.fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    stage = "join"
    try:
        joined = await http.post(f"{endpoint.url}/gradio_api/queue/join", json=body, headers=headers)
        if joined.status_code != 200:
            state.result.error = f"join {joined.status_code}"
            return state.result
        stage = "stream"
        await _read_stream(http, endpoint.url, session, state, headers)
    except (httpx.HTTPError, OSError, json.JSONDecodeError) as exc:
        # Which request failed, and how far the stream had got.
        got = "after first token" if state.result.ttft is not None else f"after {state.result.events} events"
        state.result.error = f"{stage} {got}: {type(exc).__name__}: {exc}"[:200]
    state.result.total = time.perf_counter() - state.started
    return state.result


async def _read_stream(
    http: httpx.AsyncClient, url: str, session: str, state: _StreamState, headers: dict[str, str] | None
) -> None:
    params = {"session_hash": session}
    async with http.stream("GET", f"{url}/gradio_api/queue/data", params=params, headers=headers) as response:
        if response.status_code != 200:
            state.result.error = f"stream {response.status_code}"
            return
        buffer = b""
        async for raw in response.aiter_raw():
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
