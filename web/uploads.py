"""Who uploaded which file. Gradio keeps uploads in one shared folder named by content hash, and
its upload route knows nothing of sessions: :class:`UploadLedger` records which browser (the
boundary's cookie digest) each upload belongs to. The browser boundary consults it for every file
path in a request and every ``/gradio_api/file=`` fetch; the chat consults it before reading a file.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

__all__ = ["UploadLedger", "file_paths", "is_remote", "normalise_path"]


def is_remote(path: str) -> bool:
    return path.strip().lower().startswith(("http://", "https://", "//", "data:", "ftp://", "file:"))


def file_paths(value: object) -> list[str]:
    """Every file path in a Gradio value: FileData dicts ({"path": ...}), typed file parts
    ({"type": "file", "file": {...}}) and plain path strings inside a "files" list."""
    found: list[str] = []

    def walk(item: object, depth: int) -> None:
        if depth > 12:
            return
        if isinstance(item, Mapping):
            path = item.get("path")
            if isinstance(path, str):
                found.append(path)
            for key, child in item.items():
                if key == "files" and isinstance(child, list):
                    found.extend(entry for entry in child if isinstance(entry, str))
                if isinstance(child, Mapping | list):
                    walk(child, depth + 1)
        elif isinstance(item, list):
            for child in item:
                walk(child, depth + 1)

    walk(value, 0)
    return found


def normalise_path(path: str) -> str:
    """The form paths are compared in: percent-decoded, absolute, without ``..``."""
    return os.path.normpath(os.path.abspath(unquote(path)))


class UploadLedger:
    """Upload path -> the browsers (cookie digests) that uploaded it. Shared by every session.

    Gradio names an upload after its content hash and file name, so two browsers uploading the
    same file get the same path: a path is released (and deleted) only when no browser holds it.
    """

    def __init__(self, *, capacity: int = 200_000) -> None:
        self._owners: OrderedDict[str, set[str]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def record(self, owner: str, paths: Iterable[str]) -> None:
        if not owner:
            return
        with self._lock:
            for path in paths:
                key = normalise_path(path)
                self._owners.setdefault(key, set()).add(owner)
                self._owners.move_to_end(key)
            while len(self._owners) > self._capacity:
                self._owners.popitem(last=False)

    def owns(self, owner: str, path: str) -> bool:
        if not owner or not isinstance(path, str) or is_remote(path):
            return False
        with self._lock:
            return owner in self._owners.get(normalise_path(path), ())

    def release(self, owner: str, path: str) -> bool:
        """Drop ``owner``'s hold; True when nobody holds the path any more."""
        key = normalise_path(path)
        with self._lock:
            holders = self._owners.get(key)
            if holders is None:
                return True
            holders.discard(owner)
            if holders:
                return False
            del self._owners[key]
            return True

    def __len__(self) -> int:
        return len(self._owners)
