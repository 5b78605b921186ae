"""Name the cause of a provider's error from its status, headers and body; a pure function.

``classify(status, headers, body, provider_id)`` reads the body's structured fields first, using the
tables in ``providers.error_formats``, then the status. It works on the raw bytes (or the parsed JSON)
of any reader, the openai SDK's or a raw SSE one. ``error_for`` turns the result into one of our
errors. The provider's own words are only ever compared with our tables: nothing from the body
reaches a message, except a number of seconds to wait and a setting named through ``SETTINGS``.

Shapes handled (see tests/error_bodies.py for the real bodies):
- ``{"error": {"message", "type", "code", "param"}}`` (OpenAI and most servers, LiteLLM, Groq,
  DeepSeek, Together, OpenRouter with a numeric code, Anthropic with ``"type": "error"`` around it);
- Google's ``{"error": {"code", "message", "status", "details": [{"reason"}, {"retryDelay"}]}}``,
  bare, in a one-element list, or as a JSON string inside another body's ``error.message``;
- Mistral's flat ``{"object": "error", "message", "type", "code"}`` and validation ``{"detail": [...]}``;
- ``{"error": "text"}`` and bodies that are not JSON at all.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from errors import (
    ContextTooLong,
    InvalidKey,
    NoModelAccess,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    RequestRefused,
    UnknownModel,
)

from .error_formats import COMMON, SETTINGS, STATUS_CAUSES, Cause, ErrorFormat, format_for

__all__ = ["Diagnosis", "classify", "error_for", "retry_after"]

# Bodies are read only this far: an error body is small, and a hostile server's is not our problem.
_MAX_BODY = 64 * 1024
# How deep a JSON string inside a message is unwrapped (Gemini through a gateway is two levels).
_MAX_DEPTH = 3
# A provider cannot make us tell a user to wait for more than a day.
_MAX_RETRY_AFTER = 86_400.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")  # google.protobuf.Duration in JSON: "37s", "0.5s"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    cause: Cause
    status: int | None
    # The table entry that decided (one of our own strings, safe to log), or None when the status did.
    matched: str | None = None
    retry_after: float | None = None
    # The refused setting, as SETTINGS names it; never the provider's spelling.
    setting: str | None = None


@dataclass
class _Fields:
    tokens: list[str] = field(default_factory=list)  # codes, types, statuses, reasons, innermost first
    messages: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    retry_delay: float | None = None


def classify(
    status: int | None,
    headers: Mapping[str, str] | None,
    body: bytes | str | object,
    provider_id: str,
) -> Diagnosis:
    """The cause of one failed response. ``body`` is the raw bytes or text, or already-parsed JSON."""
    fmt = format_for(provider_id)
    fields = _Fields()
    _collect(_parse(body), fields, depth=0)
    cause, matched = _from_fields(fields, fmt)
    if cause is None:
        cause = _from_status(status, fmt)
    setting = _setting(fields.params)
    if cause is Cause.REFUSED and setting is not None:
        cause = Cause.BAD_SETTING
    elif cause is Cause.REFUSED and "model" in fields.params:
        cause = Cause.UNKNOWN_MODEL
    wait = None
    if cause is Cause.RATE_LIMITED:
        wait = retry_after(headers or {})
        if wait is None:
            wait = fields.retry_delay
        if wait is not None:
            wait = min(wait, _MAX_RETRY_AFTER)
    return Diagnosis(cause=cause, status=status, matched=matched, retry_after=wait, setting=setting)


def error_for(diagnosis: Diagnosis, label: str, *, model: str) -> ProviderError:
    """Our error for a diagnosis: fixed wording, the provider's label, nothing of the provider's text."""
    status = diagnosis.status
    match diagnosis.cause:
        case Cause.WRONG_KEY:
            return InvalidKey(label, status=status)
        case Cause.NO_ACCESS:
            return NoModelAccess(label, status=status)
        case Cause.UNKNOWN_MODEL:
            return UnknownModel(label, model=model, status=status)
        case Cause.NO_CREDIT:
            return OutOfCredit(label, status=status)
        case Cause.RATE_LIMITED:
            return RateLimited(label, status=status, retry_after=diagnosis.retry_after)
        case Cause.TOO_LONG:
            return ContextTooLong(label, status=status)
        case Cause.BAD_SETTING:
            return RequestRefused(label, status=status, setting=diagnosis.setting)
        case Cause.TIMEOUT:
            return ProviderTimeout(label, status=status)
        case Cause.UNAVAILABLE:
            return ProviderUnavailable(label, status=status)
    if status is None:
        return ProviderError(label)
    return RequestRefused(label, status=status)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), or None."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _from_fields(fields: _Fields, fmt: ErrorFormat) -> tuple[Cause | None, str | None]:
    for token in fields.tokens:
        key = token.strip().lower()
        cause = fmt.codes.get(key) or COMMON.codes.get(key)
        if cause is not None:
            return cause, key
    for message in fields.messages:
        text = message.lower()
        for phrase, cause in (*fmt.phrases, *COMMON.phrases):
            if phrase in text:
                return cause, phrase
    return None, None


def _from_status(status: int | None, fmt: ErrorFormat) -> Cause:
    if status is None:
        return Cause.REFUSED
    if status in fmt.statuses:
        return fmt.statuses[status]
    if status in STATUS_CAUSES:
        return STATUS_CAUSES[status]
    return Cause.UNAVAILABLE if status >= 500 else Cause.REFUSED


def _setting(params: list[str]) -> str | None:
    for param in params:
        name = SETTINGS.get(param.strip().lower())
        if name is not None:
            return name
    return None


def _parse(body: bytes | str | object) -> object:
    if isinstance(body, bytes | bytearray):
        body = bytes(body[:_MAX_BODY]).decode("utf-8", "replace")
    if isinstance(body, str):
        text = body[:_MAX_BODY].strip()
        if not text.startswith(("{", "[")):
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text
    return body


def _collect(body: object, fields: _Fields, depth: int) -> None:
    """Gather the structured fields of ``body``, the innermost (most specific) first."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(body, list):
        for item in body[:4]:
            _collect(item, fields, depth + 1)
        return
    if isinstance(body, str):
        fields.messages.append(body[:2000])
        return
    if not isinstance(body, dict):
        return
    error = body.get("error")
    if isinstance(error, dict):
        _collect(error, fields, depth + 1)
        return
    if isinstance(error, str):
        _collect(_parse(error), fields, depth + 1)
        return
    _collect_error_object(body, fields, depth)


def _collect_error_object(error: dict[str, Any], fields: _Fields, depth: int) -> None:
    message = error.get("message")
    if isinstance(message, str):
        inner = _parse(message)
        if isinstance(inner, dict | list):
            # A Google error carried as JSON text inside a gateway's error: its fields say more.
            _collect(inner, fields, depth + 1)
        else:
            fields.messages.append(message[:2000])
    details = error.get("details")
    if isinstance(details, list):
        for detail in details[:16]:
            if not isinstance(detail, dict):
                continue
            _add_token(fields, detail.get("reason"))
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and (m := _DURATION.match(delay)):
                fields.retry_delay = float(m.group(1))
    for name in ("code", "type", "status"):
        _add_token(fields, error.get(name))
    param = error.get("param")
    if isinstance(param, str):
        fields.params.append(param)
    detail = error.get("detail")
    if isinstance(detail, list):
        # A FastAPI/pydantic validation error (Mistral's 422): the field is the last part of `loc`.
        for item in detail[:16]:
            loc = item.get("loc") if isinstance(item, dict) else None
            if isinstance(loc, list) and loc and isinstance(loc[-1], str):
                fields.params.append(loc[-1])
    elif isinstance(detail, str):
        fields.messages.append(detail[:2000])


def _add_token(fields: _Fields, value: object) -> None:
    # Numbers (400, "1500") repeat the status or mean nothing outside one provider.
    if isinstance(value, str) and value.strip() and not value.strip().isdigit():
        fields.tokens.append(value)
