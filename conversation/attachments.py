"""Files in the chat: who uploaded them, and the server's own decoded copy of each.

- A file is used only by the browser that uploaded it. Gradio keeps uploads in one shared folder
  named by content hash, and its upload route knows nothing of sessions: :class:`~web.uploads.UploadLedger`
  records which browser (the boundary's cookie digest) each upload belongs to. The browser
  boundary consults it for every file path in a request and every ``/gradio_api/file=`` fetch.
- A file is decoded (:mod:`conversation.decode`: what it really is, images downscaled, PDF text)
  in a worker process with a memory and a time limit, never on the server's event loop, and at
  most :data:`DECODE_WORKERS` at once. The result, a refusal included, is kept per upload: the same
  file named again, in any session, is not decoded again.
- Images reach the provider as base64 ``data:`` URLs (never a URL back to this app);
  :class:`SessionUploads` keeps each session's copies, which is what history is rebuilt from.

Nothing here imports Gradio.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from errors import InputRejected
from web.uploads import UploadLedger, is_remote
from words import ENGLISH, Phrase, catalogue, placeholders

from . import decode
from .decode import ACCEPTED_SUFFIXES, IMAGE_LONG_EDGE, display_name, sniff_image

__all__ = [
    "ACCEPTED_SUFFIXES",
    "DECODE_SECONDS",
    "DECODE_WORKERS",
    "IMAGE_LONG_EDGE",
    "Attachment",
    "FileRejected",
    "SessionFiles",
    "SessionUploads",
    "UploadStore",
    "decode_attachment",
    "sniff_image",
]

log = logging.getLogger("byok_chat.attachments")

# Wall-clock time one file may take to decode; the worker's CPU limit is the same.
DECODE_SECONDS = 15
# Address space of one worker: a 40-megapixel RGBA canvas and its downscaled copy fit with room.
DECODE_MEMORY_BYTES = 1024 * 1024 * 1024
# Workers at once: the machine's cores are the server's too.
DECODE_WORKERS = 2
# A session's files are dropped to make room for another only after this long unused.
SESSION_IDLE_SECONDS = 6 * 3600
# Decoded uploads kept for any session that names them again.
DECODED_CAPACITY = 512


class FileRejected(InputRejected):
    title_key = "title_file_not_accepted"


@dataclass(frozen=True, slots=True)
class Attachment:
    """The server's own copy of one upload, ready to send: an image as a data: URL, or text."""

    name: str
    kind: Literal["image", "text"]
    data_url: str = ""
    text: str = ""


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _worker_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(DECODE_WORKERS)
    return slot


async def decode_attachment(path: str, *, max_image_bytes: int, max_file_bytes: int) -> Attachment:
    """Check one uploaded file by its bytes, in a worker process, and turn it into what the
    provider gets. Raises :class:`FileRejected` with the visitor's message."""
    name = display_name(path)
    request = {
        "path": path,
        "max_image_bytes": max_image_bytes,
        "max_file_bytes": max_file_bytes,
        "memory_bytes": DECODE_MEMORY_BYTES,
        "cpu_seconds": DECODE_SECONDS,
    }
    async with _worker_slot():
        answer = await _run_worker(json.dumps(request).encode(), name)
    if "refused" in answer:
        raise FileRejected(_refusal(answer))
    if answer.get("kind") == "image":
        return Attachment(name=name, kind="image", data_url=str(answer["data_url"]))
    return Attachment(name=name, kind="text", text=str(answer["text"]))


def _refusal(answer: dict[str, object]) -> Phrase:
    """The worker's refusal: a key of the catalogue and its parameters, checked like any answer."""
    key, params = answer.get("refused"), answer.get("params")
    if (
        not isinstance(key, str)
        or key not in catalogue(ENGLISH)
        or not isinstance(params, dict)
        or placeholders(catalogue(ENGLISH)[key]) - set(params)
    ):
        return Phrase("file_unreadable")
    return Phrase(key, {name: str(value) for name, value in params.items()})


async def _run_worker(request: bytes, name: str) -> dict[str, object]:
    # Isolated (-I) and with an empty environment: the worker needs none of the operator's
    # settings, and the environment is where server keys live.
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        decode.__file__,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={},
    )
    try:
        out, _ = await asyncio.wait_for(worker.communicate(request), DECODE_SECONDS)
    except TimeoutError:
        log.warning("an attachment took over %ss to decode; its worker was stopped", DECODE_SECONDS)
        raise FileRejected(Phrase("file_too_slow", {"name": name})) from None
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        # Killed at its CPU limit, or crashed inside a decoder.
        log.warning("an attachment's decoder ended without an answer (exit %s)", worker.returncode)
        raise FileRejected(Phrase("file_crashed", {"name": name}))
    return answer


class SessionUploads:
    """One session's attachments: path -> the server's own, already encoded copy."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.files: dict[str, Attachment] = {}
        self.touched = time.monotonic()

    def get(self, path: str) -> Attachment | None:
        return self.files.get(path)


class UploadStore:
    """The ledger plus each live session's attachments, keyed by session hash.

    A session hash is not a credential, but the browser boundary has already tied it to the
    browser that made it; the owner is checked again here on every use.
    """

    def __init__(self, *, max_image_bytes: int, max_file_bytes: int, capacity: int = 10_000) -> None:
        self.ledger = UploadLedger()
        self.max_image_bytes = max_image_bytes
        self.max_file_bytes = max_file_bytes
        self._sessions: OrderedDict[str, SessionUploads] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        # Upload path -> (its size and mtime when decoded, its copy or the refusal's message).
        self._decoded: OrderedDict[str, tuple[tuple[int, int], Attachment | Phrase]] = OrderedDict()
        # Decodes under way, so that many requests naming one file start one worker.
        self._decoding: dict[str, asyncio.Task[Attachment | Phrase]] = {}

    def session(self, session_hash: str, owner: str) -> SessionUploads | None:
        """This session's uploads; None when the owner differs, there is no browser cookie, or the
        store is full of sessions still in use (a closed tab's uploads go when Gradio says so)."""
        if not session_hash or not owner:
            return None
        now = time.monotonic()
        with self._lock:
            held = self._sessions.get(session_hash)
            evicted = []
            if held is None:
                # Room is made only from sessions idle for long: never from a live session's files.
                while len(self._sessions) >= self._capacity:
                    oldest = next(iter(self._sessions.values()))
                    if now - oldest.touched < SESSION_IDLE_SECONDS:
                        return None
                    evicted.append(self._sessions.popitem(last=False))
                held = self._sessions[session_hash] = SessionUploads(owner)
            elif held.owner != owner:
                return None
            self._sessions.move_to_end(session_hash)
            held.touched = now
        for old_hash, old in evicted:
            self._delete(old_hash, old)
        return held

    def check(self, uploads: SessionUploads, path: object) -> str:
        """A file of the message being sent, as a path: it must be this browser's upload."""
        if not isinstance(path, str) or not path:
            raise FileRejected("refused_file_invalid")
        if is_remote(path):
            raise FileRejected("refused_file_link")
        if uploads.get(path) is None and not self.ledger.owns(uploads.owner, path):
            raise FileRejected("refused_file_not_yours")
        return path

    async def admit(self, uploads: SessionUploads, path: object) -> Attachment:
        """A file of the message being sent, checked, then decoded once per upload; the session
        keeps the copy for when history is re-sent."""
        path = self.check(uploads, path)
        held = uploads.get(path)
        if held is not None:
            return held
        decoded = await self._decoded_copy(path)
        if isinstance(decoded, Phrase):
            raise FileRejected(decoded)
        uploads.files[path] = decoded
        return decoded

    async def _decoded_copy(self, path: str) -> Attachment | Phrase:
        stamp = _stamp(path)
        with self._lock:
            cached = self._decoded.get(path)
            if cached is not None and cached[0] == stamp:
                self._decoded.move_to_end(path)
                return cached[1]
        task = self._decoding.get(path)
        if task is None:
            task = self._decoding[path] = asyncio.ensure_future(self._decode(path, stamp))
            task.add_done_callback(lambda _: self._decoding.pop(path, None))
        # A visitor pressing Stop leaves the decode to finish for whoever names the file next.
        return await asyncio.shield(task)

    async def _decode(self, path: str, stamp: tuple[int, int] | None) -> Attachment | Phrase:
        try:
            decoded: Attachment | Phrase = await decode_attachment(
                path, max_image_bytes=self.max_image_bytes, max_file_bytes=self.max_file_bytes
            )
        except FileRejected as refused:
            decoded = refused.phrase
        if stamp is not None:
            with self._lock:
                self._decoded[path] = (stamp, decoded)
                while len(self._decoded) > DECODED_CAPACITY:
                    self._decoded.popitem(last=False)
        return decoded

    def end_session(self, session_hash: str) -> None:
        with self._lock:
            uploads = self._sessions.pop(session_hash, None)
        if uploads is not None:
            self._delete(session_hash, uploads)

    def _delete(self, session_hash: str, uploads: SessionUploads) -> None:
        for path in list(uploads.files):
            if self.ledger.release(uploads.owner, path):
                with self._lock:
                    self._decoded.pop(path, None)
                _remove_upload(path)
        uploads.files.clear()

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass(frozen=True, slots=True)
class ReadFiles:
    """The files of one request: the message's own, and those its history names (path -> the
    server's copy, or None for this browser's upload that was never sent)."""

    new: list[Attachment]
    earlier: dict[str, Attachment | None]


@dataclass(frozen=True, slots=True)
class SessionFiles:
    """What a chat may use: this session's uploads, through the store that checks them."""

    store: UploadStore
    uploads: SessionUploads

    async def read(self, *, new: Iterable[object], earlier: Iterable[object]) -> ReadFiles:
        """Every file one request uses, checked and read in one call."""
        # Every path is checked before any file is decoded.
        earlier_files = {str(path): self.history(path) for path in earlier}
        paths = [self.store.check(self.uploads, path) for path in new]
        attachments = [await self.admit(path) for path in paths]
        return ReadFiles(new=attachments, earlier=earlier_files)

    async def admit(self, path: object) -> Attachment:
        return await self.store.admit(self.uploads, path)

    def history(self, path: object) -> Attachment | None:
        """A file named in history: only the server's own copy of this session's uploads.

        None for this browser's own upload that was never admitted (it was refused when sent, and
        the page still shows it): it is left out rather than failing every later message.
        """
        if not isinstance(path, str) or not path:
            raise FileRejected("refused_history_file_invalid")
        if is_remote(path):
            raise FileRejected("refused_history_file_link")
        held = self.uploads.get(path)
        if held is not None:
            return held
        if self.store.ledger.owns(self.uploads.owner, path):
            return None
        raise FileRejected("refused_history_file_not_yours")


def _stamp(path: str) -> tuple[int, int] | None:
    """What tells one file at a path from another: its size and modification time."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def _remove_upload(path: str) -> None:
    """Delete an upload and the content-hash folder Gradio made for it, if now empty."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not delete an upload: %s", type(exc).__name__)
        return
    folder = os.path.dirname(path)
    try:
        if not os.listdir(folder):
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass
