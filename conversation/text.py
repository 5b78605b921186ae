"""The text of a chat message: our own marks and stats line (stripped before anything goes
upstream), control characters, and the text inside the content shapes Gradio and scripts send."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from errors import ProviderTimeout, ReplyCutOff
from words import ENGLISH

__all__ = [
    "CUT_OFF_MARK",
    "MARKS",
    "REPLY_STATS_CLASS",
    "STOPPED_MARK",
    "clean_text",
    "content_text",
    "cut_off_mark",
    "last_reply_model",
    "reply_model",
    "without_annotations",
]

# Appended to a partial reply that the provider stopped sending, or that the visitor stopped.
# Stripped again from history so the model never sees our own annotation as something it said.
CUT_OFF_MARK = "\n\n*[Reply cut off: the provider stopped sending before the end.]*"
STOPPED_MARK = "\n\n*[Stopped: you stopped this reply.]*"
MARKS = (CUT_OFF_MARK, STOPPED_MARK)
# A reply that stopped at one of our time limits says which, and after how long.
_TIMED_OUT_MARK = "\n\n*[Timed out: {what}.]*"
_TIMED_OUT = re.compile(r"\n\n\*\[Timed out: [^\]\n]*\.\]\*\Z")

# The page shows a muted line of numbers (tokens, timings, cost) under each answer, in a span of
# this class. It is ours, not the model's: stripped from history before anything goes upstream.
REPLY_STATS_CLASS = "reply-stats"
_REPLY_STATS = re.compile(r'\n\n<span class="' + REPLY_STATS_CLASS + r'">[^<>]*</span>\s*\Z')

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
MODEL_LABEL = "model "
_MODEL_IN_STATS = re.compile(
    r'<span class="' + REPLY_STATS_CLASS + r'">[^<>]* · ' + MODEL_LABEL + r"([^<>\s·]+)</span>\s*\Z"
)


def reply_model(text: str) -> str | None:
    """The model named in a reply's numbers line, if the page wrote one."""
    found = _MODEL_IN_STATS.search(text)
    return html.unescape(found.group(1)) if found else None


def last_reply_model(history: object) -> str | None:
    """The model of the last reply in a chat that names one."""
    if not isinstance(history, list):
        return None
    for entry in reversed(history):
        if isinstance(entry, Mapping) and entry.get("role") == "assistant":
            model = reply_model(content_text(entry.get("content")))
            if model:
                return model
    return None


def cut_off_mark(error: ReplyCutOff) -> str:
    """The mark under a reply that ended early: why, when it was one of our time limits."""
    if isinstance(error.cause, ProviderTimeout):
        return _TIMED_OUT_MARK.format(what=f"{error.cause.limit().in_language(ENGLISH)}; what arrived is kept")
    return CUT_OFF_MARK


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
