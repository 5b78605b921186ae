"""Who uploaded which file. Gradio keeps uploads in one shared folder named by content hash, and
its upload route knows nothing of sessions: :class:`UploadLedger` records which browser (the
boundary's cookie digest) each upload belongs to. The browser boundary consults it for every file
path in a request and every ``/gradio_api/file=`` fetch; the chat consults it before reading a file.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

__all__ = ["UploadLedger", "file_paths", "is_remote"]


def is_remote(path: str) -> bool:
    return path.strip().lower().startswith(("http://", "https://", "//", "data:", "ftp://", "file:"))


def file_paths(value: object) -> list[str]:
    """Every file path anywhere in a request body, at any depth: FileData dicts ({"path": ...},
    with or without Gradio's ``meta`` tag), typed file parts ({"type": "file", "file": {...}}) and
    plain path strings inside a "files" list. Gradio's own walk for FileData has no depth limit,
    so neither has this one (it loops rather than recursing)."""
    found: list[str] = []
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            path = item.get("path")
            if isinstance(path, str):
                found.append(path)
            elif path is not None and _is_file_data(item):
                found.append(repr(path))  # a FileData whose path is not text names no upload
            for key, child in item.items():
                if key == "files" and isinstance(child, list):
                    found.extend(entry for entry in child if isinstance(entry, str))
                if isinstance(child, Mapping | list):
                    pending.append(child)
        elif isinstance(item, list):
            pending.extend(child for child in item if isinstance(child, Mapping | list))
    return found


def _is_file_data(item: Mapping[object, object]) -> bool:
    meta = item.get("meta")
    return isinstance(meta, Mapping) and meta.get("_type") == "gradio.FileData"


class UploadLedger:
    """Upload path -> the browsers (cookie digests) that uploaded it. Shared by every session.

    Gradio names an upload after its content hash and file name, so two browsers uploading the
    same file get the same path: a path is released (and deleted) only when no browser holds it.
    Paths are the exact strings Gradio's upload route returned, never decoded or normalised: an
    upload named ``..%2F<hash>%2Fpayslip.txt`` must not come to mean another browser's file.
    """

    def __init__(
        self, *, capacity: int = 200_000, max_age: float = 25 * 3600, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # Oldest record first; each path with when it was last uploaded.
        self._owners: OrderedDict[str, set[str]] = OrderedDict()
        self._recorded: dict[str, float] = {}
        self._capacity = capacity
        # Gradio deletes cached files a day old (delete_cache); their records go an hour later.
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        """No room for another upload: records are never dropped while their files may be in use."""
        with self._lock:
            self._expire()
            return len(self._owners) >= self._capacity

    def record(self, owner: str, paths: Iterable[str]) -> None:
        if not owner:
            return
        with self._lock:
            now = self._clock()
            for path in paths:
                self._owners.setdefault(path, set()).add(owner)
                self._owners.move_to_end(path)
                self._recorded[path] = now

    def _expire(self) -> None:
        now = self._clock()
        while self._owners:
            oldest = next(iter(self._owners))
            if now - self._recorded[oldest] < self._max_age:
                return
            del self._owners[oldest], self._recorded[oldest]

    def owns(self, owner: str, path: str) -> bool:
        if not owner or not isinstance(path, str) or is_remote(path):
            return False
        with self._lock:
            return owner in self._owners.get(path, ())

    def release(self, owner: str, path: str) -> bool:
        """Drop ``owner``'s hold; True when nobody holds the path any more."""
        with self._lock:
            holders = self._owners.get(path)
            if holders is None:
                return True
            holders.discard(owner)
            if holders:
                return False
            del self._owners[path], self._recorded[path]
            return True

    def __len__(self) -> int:
        return len(self._owners)
