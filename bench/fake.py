"""An asyncio fake OpenAI-compatible provider, so the fake never limits a 200-stream benchmark.

tests/fake_provider.py starts one thread per connection; at 200 simultaneous streams its thread
switches would be part of what we measure. This one runs every stream on one event loop.
It knows only what the benchmark needs:

    chunks-<n>-<ms>   <n> chunks of one word ("tok "), <ms> apart; the first at once
    think-chunks-<n>-<ms>
                      the same, the first half as reasoning (``delta.reasoning_content``,
                      DeepSeek's field) and the second half as the answer
    any other name    the plan named in the last user message (``chunks-<n>-<ms>`` anywhere in
                      it), else chunks-20-50. gr.load_chat fixes the model at start-up, so the
                      benchmark picks its reply shape through the message.

Each stream ends with a finish reason, a usage chunk when ``stream_options.include_usage`` asks
for one, and ``[DONE]``, as real providers do. Connections are kept alive (HTTP/1.1, chunked).

Run: ``python -m bench.fake --port 8001`` (prints ``ready <port>`` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

_CHUNKS = re.compile(r"chunks-(\d+)-(\d+)")
_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def plan(model: str, body: dict[str, object]) -> tuple[int, float]:
    """How many chunks, and the gap between them in seconds."""
    match = _CHUNKS.fullmatch(model) or _CHUNKS.search(last_user_text(body))
    if match is None:
        return 20, 0.05
    return int(match.group(1)), int(match.group(2)) / 1000


def last_user_text(body: dict[str, object]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            # gr.load_chat sends typed parts; everything else a plain string.
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def sse(payload: dict[str, object] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    body = f"data: {data}\n\n".encode()
    # One HTTP chunk per SSE event, as providers send them.
    return f"{len(body):x}\r\n".encode() + body + b"\r\n"


def chunk(model: str, delta: dict[str, str], finish_reason: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


async def stream_reply(writer: asyncio.StreamWriter, body: dict[str, object]) -> None:
    model = str(body.get("model", ""))
    count, gap = plan(model, body)
    writer.write(_HEAD)
    # The same bytes every time: pre-encode once, so the fake spends nothing per chunk.
    token = sse(chunk(model, {"content": "tok "}))
    thought = sse(chunk(model, {"reasoning_content": "tok "}))
    thinking = count // 2 if model.startswith("think-") else 0
    for index in range(count):
        writer.write(thought if index < thinking else token)
        await writer.drain()
        if gap and index < count - 1:
            await asyncio.sleep(gap)
    tail = sse(chunk(model, {}, "stop"))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        usage = {"prompt_tokens": 11, "completion_tokens": count, "total_tokens": 11 + count}
        tail += sse({**chunk(model, {}), "choices": [], "usage": usage})
    writer.write(tail + sse("[DONE]") + b"0\r\n\r\n")
    await writer.drain()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, object]] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    raw = await reader.readexactly(length) if length else b"{}"
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        body = {}
    return path, body if isinstance(body, dict) else {}


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (request := await read_request(reader)) is not None:
            path, body = request
            if path.rstrip("/").endswith("/chat/completions"):
                await stream_reply(writer, body)
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the client went away mid-stream: normal for a stopped chat
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(serve_connection, host, port, backlog=2048)
    bound = server.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
