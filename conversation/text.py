"""The text of a chat message: our own marks and stats line (stripped before anything goes
upstream), control characters, and the text inside the content shapes Gradio and scripts send."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from errors import ProviderTimeout, ReplyCutOff
from words import ENGLISH, LANGUAGES, say, template

__all__ = [
    "CUT_OFF_MARK",
    "MARKS",
    "REPLY_STATS_CLASS",
    "STOPPED_MARK",
    "ReplyOrigin",
    "clean_text",
    "content_text",
    "cut_off_mark",
    "cut_off_mark_in",
    "last_reply_model",
    "last_reply_origin",
    "reply_model",
    "reply_origin",
    "stopped_mark",
    "without_annotations",
]


def _mark(text: str) -> str:
    return f"\n\n*[{text}]*"


def cut_off_mark_in(language: str) -> str:
    """Appended to a partial reply that the provider stopped sending."""
    return _mark(say(language, "mark_cut_off"))


def stopped_mark(language: str = ENGLISH) -> str:
    """Appended to a reply the visitor stopped."""
    return _mark(say(language, "mark_stopped"))


CUT_OFF_MARK = cut_off_mark_in(ENGLISH)
STOPPED_MARK = stopped_mark(ENGLISH)
# Our marks in every language are stripped again from history, so the model never sees our own
# annotation as something it said (a chat may go on in another language than it started in).
MARKS = tuple(mark for language in LANGUAGES for mark in (cut_off_mark_in(language), stopped_mark(language)))


def _timed_out(language: str) -> str:
    """A reply that stopped at one of our time limits says which, and after how long."""
    before, after = template(language, "mark_timed_out").split("{what}")
    return re.escape(f"\n\n*[{before}") + r"[^\]\n]*" + re.escape(f"{after}]*")


_TIMED_OUT = re.compile("(?:" + "|".join(_timed_out(language) for language in LANGUAGES) + r")\Z")

# The page shows a muted line of numbers (tokens, timings, cost) under each answer, in a span of
# this class. It is ours, not the model's: stripped from history before anything goes upstream.
REPLY_STATS_CLASS = "reply-stats"
# It may name the provider the reply came from (read back when a saved chat is opened).
_PROVIDER_ATTRIBUTE = r'(?: data-provider="([A-Za-z0-9_.-]+)")?'
_REPLY_STATS = re.compile(r'\n\n<span class="' + REPLY_STATS_CLASS + '"' + _PROVIDER_ATTRIBUTE + r">[^<>]*</span>\s*\Z")

# C0/C1 controls except tab and newline, plus DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """Drop control characters and replace lone surrogates, which JSON encoders choke on."""
    value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def without_annotations(text: str) -> str:
    """An assistant turn's text without our stats line and cut-off/stopped marks."""
    text = _TIMED_OUT.sub("", _REPLY_STATS.sub("", text))
    for mark in MARKS:
        # A reply stopped before its first word is the mark alone, its leading blank line gone.
        text = text.removesuffix(mark).removesuffix(mark.lstrip())
    return text


# The numbers line ends with the model that wrote the reply (ui/chat_view.py's stats_line).
# It is read back in every language: a chat saved in one may be exported after a switch to another.
_MODEL_LABELS = "|".join(re.escape(template(language, "stats_model").split("{model}")[0]) for language in LANGUAGES)
_MODEL_IN_STATS = re.compile(
    r'<span class="'
    + REPLY_STATS_CLASS
    + '"'
    + _PROVIDER_ATTRIBUTE
    + r">[^<>]* · (?:"
    + _MODEL_LABELS
    + r")([^<>\s·]+)</span>\s*\Z"
)


@dataclass(frozen=True)
class ReplyOrigin:
    """Where a reply came from, as its numbers line says: the model, and the provider's id when
    the page wrote one (replies from before it did name only the model)."""

    model: str
    provider_id: str | None


def reply_origin(text: str) -> ReplyOrigin | None:
    """The model (and provider) named in a reply's numbers line, if the page wrote one."""
    found = _MODEL_IN_STATS.search(text)
    return ReplyOrigin(html.unescape(found.group(2)), found.group(1)) if found else None


def reply_model(text: str) -> str | None:
    """The model named in a reply's numbers line, if the page wrote one."""
    origin = reply_origin(text)
    return origin.model if origin else None


def last_reply_origin(history: object) -> ReplyOrigin | None:
    """Where the last reply in a chat that names its model came from."""
    if not isinstance(history, list):
        return None
    for entry in reversed(history):
        if isinstance(entry, Mapping) and entry.get("role") == "assistant":
            origin = reply_origin(content_text(entry.get("content")))
            if origin:
                return origin
    return None


def last_reply_model(history: object) -> str | None:
    """The model of the last reply in a chat that names one."""
    origin = last_reply_origin(history)
    return origin.model if origin else None


def cut_off_mark(error: ReplyCutOff, language: str = ENGLISH) -> str:
    """The mark under a reply that ended early: why, when it was one of our time limits."""
    if isinstance(error.cause, ProviderTimeout):
        return _mark(say(language, "mark_timed_out", what=error.cause.limit()))
    return cut_off_mark_in(language)


def content_text(content: object) -> str:
    # Browser history carries typed parts; gradio_client history carries a plain string.
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, list):
        return "\n".join(_part_text(part) for part in content if _part_text(part))
    return ""


def _part_text(part: object) -> str:
    # A multimodal message that went through the API is kept as [{"path": ...}, ..., "its text"].
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping) and part.get("type") == "text":
        text = part.get("text")
        return text if isinstance(text, str) else ""
    return ""
