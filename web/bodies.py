"""Request bodies for the session guard: read within a cap, judged by their shape before anything
parses them on the event loop, and handed on unchanged.

Gradio parses a JSON body on the event loop and then walks it (its pydantic models, each
component's preprocessing, the chatbot's turns), so what a body costs every visitor is set by its
shape, not its size: 2.5 MB holding one object of 190,000 keys held the loop for over a second.
A body is let through only when it is shaped like what the page sends (:class:`BodyLimits`, sized
from the operator's settings). Small bodies, which is nearly all of them, are judged here; a
larger one is judged by a worker process (``web/body_shape.py``), so a body that would hold the
loop is refused without the loop ever parsing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import asdict, dataclass

from . import body_shape
from .asgi import Message, Receive

__all__ = ["BodyJudge", "BodyLimits", "body_limits", "read_body", "replay"]

log = logging.getLogger("byok_chat.boundary")

# Bodies up to this size are judged on the event loop: a few thousand values at most, well under
# a millisecond, and no round trip to the worker for the page's everyday events.
INLINE_BYTES = 16_000
# A worker that has not answered by then is stopped; a 4 MB body takes it a fraction of a second.
WORKER_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class BodyLimits:
    # The largest body read at all.
    max_bytes: int
    # JSON values in the whole body, and items in any one list (the longest is a conversation).
    max_values: int
    max_items: int
    # Keys in any one object: the page's widest (a file's data) has about ten.
    max_keys: int = 64
    # Characters of any one number: the page's longest is a file's size in bytes.
    max_number_chars: int = 40
    # The page nests about eight deep (a file inside a message inside the history); Gradio walks
    # bodies recursively, and Python's recursion stops near a thousand.
    max_depth: int = 128

    def shape(self) -> dict[str, int]:
        limits = asdict(self)
        del limits["max_bytes"]
        return limits


# JSON values of one message as the page sends it (role, content parts, a file's data, metadata).
VALUES_PER_MESSAGE = 25


def body_limits(
    *, max_message_chars: int, max_history_chars: int, max_import_bytes: int, max_import_messages: int
) -> BodyLimits:
    """The largest body the page sends: twice an imported conversation (it goes on growing once
    imported), or a message and the history the server reads with every character escaped to six
    bytes, whichever is more. The page sends its whole history with every message, so a
    conversation may hold four times the messages an import may."""
    longest = 4 * max_import_messages
    return BodyLimits(
        max_bytes=max(2 * max_import_bytes, 6 * (max_message_chars + max_history_chars) + 64_000),
        max_values=VALUES_PER_MESSAGE * longest,
        max_items=longest,
    )


class BodyJudge:
    """Says whether a body is within its limits: ``None``, ``body_shape.INVALID`` or what is wrong.
    One worker process, started at the first large body and used by one body at a time."""

    def __init__(self, limits: BodyLimits) -> None:
        self.limits = limits
        self._worker: asyncio.subprocess.Process | None = None
        self._lock: asyncio.Lock | None = None

    async def fault(self, body: bytes) -> str | None:
        if len(body) <= INLINE_BYTES:
            return body_shape.fault(body, **self.limits.shape())
        lock = self._lock = self._lock or asyncio.Lock()
        try:
            async with asyncio.timeout(WORKER_SECONDS):
                await lock.acquire()
        except TimeoutError:
            log.warning("a request body was refused: the worker that checks bodies is busy")
            return "not checked in time"
        try:
            async with asyncio.timeout(WORKER_SECONDS):
                return await self._ask(body)
        except (TimeoutError, OSError, EOFError):
            log.warning("a request body was refused: the worker that checks bodies did not answer")
            await self.close()
            return "not checked in time"
        finally:
            lock.release()

    async def _ask(self, body: bytes) -> str | None:
        worker = self._worker
        if worker is None or worker.returncode is not None:
            # Isolated (-I) and with an empty environment: the worker needs none of the
            # operator's settings, and the environment is where server keys live.
            worker = self._worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                body_shape.__file__,
                json.dumps(self.limits.shape()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={},
            )
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(len(body).to_bytes(4, "big") + body)
        await worker.stdin.drain()
        answer = (await worker.stdout.readuntil(b"\n")).decode().strip()
        return answer or None

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and worker.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.kill()
            await worker.wait()


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then whatever comes next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
