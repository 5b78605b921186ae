"""The second line of defence: mask every key the process knows in whatever gets written out.

Our own code never logs a key. This catches what other code might: a library logging a request,
a traceback printed by Gradio, an exception message that quotes a provider. It masks every live
:class:`~config.secret.Secret` (server keys and visitors' keys still in a session) and anything
shaped like a bearer token or a well-known key prefix.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from .secret import live_secrets

__all__ = ["MASK", "RedactingFilter", "RedactingStream", "install_redaction", "redact"]

MASK = "[REDACTED]"
# Shorter values would mask ordinary words; no real key is this short.
_MIN_SECRET = 6
# Longer than any key (keys.MAX_KEY_LENGTH is 512), so a held line always holds a key whole.
_MAX_HELD = 64 * 1024
_PATTERNS = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"
    r"|\bhf_[A-Za-z0-9]{20,}"
    r"|\bgsk_[A-Za-z0-9]{20,}"
    r"|\bAIza[0-9A-Za-z_-]{30,}"
)


def redact(text: str) -> str:
    # Longest first, so a key that contains another key is masked whole.
    for secret in sorted(live_secrets(), key=len, reverse=True):
        if len(secret) < _MIN_SECRET:
            continue
        for form in _written_forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    return _PATTERNS.sub(MASK, text)


def _written_forms(secret: str) -> set[str]:
    """The key as it appears inside a logged dict or list (repr) or JSON body: a backslash or quote
    in it is escaped there, and the escaped text still gives the key away."""
    return {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}


class RedactingFilter(logging.Filter):
    """Formats the record first, so a key split across ``%s`` arguments is still found."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingStream(io.TextIOBase):
    """Wraps stdout/stderr: Gradio prints some tracebacks with print(), not through logging.

    Text is held until its line ends (or a flush): ``print(a, b, sep="")`` writes its arguments
    one by one, and a key split across two writes must still be masked whole.
    """

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self._pending = ""
        # Several threads print; the held text is shared. Re-entrant, in case a signal handler
        # prints while a write is in progress.
        self._lock = threading.RLock()

    def write(self, text: str) -> int:
        with self._lock:
            pending = self._pending + text
            end = max(pending.rfind("\n"), pending.rfind("\r")) + 1
            if end:
                self._inner.write(redact(pending[:end]))
                pending = pending[end:]
            if len(pending) > _MAX_HELD:  # a line that never ends is not held for ever
                self._inner.write(redact(pending))
                pending = ""
            self._pending = pending
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._inner.write(redact(self._pending))
                self._pending = ""
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding


def install_redaction() -> None:
    """Redact every log record, whichever logger or handler it goes to, and both standard
    streams. Safe to call twice.

    Under `gradio app.py` this module and config.secret are loaded afresh after each edit, with a
    registry of their own for the keys read from then on: each load adds its own layer over the
    last (the streams' wrappers too, since the class is new), so keys from every load stay masked.
    """
    if getattr(logging.getLogRecordFactory(), "_byok_redacting", None) is not RedactingFilter:
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # One INFO line per HTTP request from the HTTP clients drowns out everything else.
        for noisy in ("httpx", "httpx2"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)


def _redacting_factory(
    make_record: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    redacting_filter = RedactingFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redacting_filter.filter(record)
        return record

    factory._byok_redacting = RedactingFilter  # type: ignore[attr-defined]
    return factory
