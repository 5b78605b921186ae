"""How a reply looks in the page: the collapsible "Thinking" message, the answer, and the muted
line of numbers under it. UI only; what goes upstream is decided in conversation/request.py,
which drops titled messages and the numbers line from history.
"""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from conversation.text import CUT_OFF_MARK, REPLY_STATS_CLASS
from providers import Provider, Reply, ReplyStats, parse_effort
from words import ENGLISH, Phrase, say

__all__ = [
    "CSS",
    "THINKING_TITLE",
    "SessionChoices",
    "cut_off_messages",
    "effort_shown",
    "page_messages",
    "temperature_view",
]

THINKING_TITLE = "Thinking"  # in English; thinking_title says it in the visitor's language

_PROVIDER_ID = re.compile(r"[A-Za-z0-9_.-]+")

# Small and muted, under the answer.
CSS = f".{REPLY_STATS_CLASS} {{ font-size: 0.8em; color: var(--body-text-color-subdued); }}"


def page_messages(
    reply: Reply,
    clean: Callable[[str], str] = str,
    elapsed: float = 0.0,
    model: str = "",
    *,
    provider_id: str = "",
    language: str = ENGLISH,
) -> str | list[gr.ChatMessage]:
    """What the chat shows for ``reply``: its text alone, or the thinking above the answer.
    ``clean`` is applied to the model's text (not to our numbers line); ``elapsed`` is how long
    the reply has run, shown as the thinking's time while the model still thinks; ``model`` and
    ``provider_id`` are named in the numbers line."""
    text = clean(reply.text)
    if reply.stats is not None:
        text += stats_line(reply.stats, model, provider_id=provider_id, language=language)
    if not reply.reasoning:
        return text
    messages = [_thinking(clean(reply.reasoning), reply.thinking_seconds, elapsed, language)]
    if reply.text:
        messages.append(gr.ChatMessage(role="assistant", content=text))
    return messages


def cut_off_messages(
    reasoning: str, thinking_seconds: float | None, partial: str, mark: str = CUT_OFF_MARK, language: str = ENGLISH
) -> str | list[gr.ChatMessage]:
    text = partial + mark
    if not reasoning:
        return text
    return [
        _thinking(reasoning, thinking_seconds or 0.0, 0.0, language),
        gr.ChatMessage(role="assistant", content=text),
    ]


def _thinking(reasoning: str, seconds: float | None, elapsed: float = 0.0, language: str = ENGLISH) -> gr.ChatMessage:
    # Pending while the model thinks (Gradio keeps it open and shows a spinner), with the time so
    # far, so a Stop mid-thought can settle it with a duration (ui/handlers.py's mark_stopped);
    # done, with the time it took, once the answer starts (Gradio then collapses it).
    metadata: dict[str, object] = {
        "title": say(language, "thinking"),
        "status": "pending" if seconds is None else "done",
        # Never 0: Gradio shows no duration for 0, and the page's CSS tells a thinking bubble
        # from an error bubble by its duration.
        "duration": max(0.1, round(elapsed if seconds is None else seconds, 1)),
    }
    return gr.ChatMessage(role="assistant", content=reasoning, metadata=metadata)  # type: ignore[arg-type]


def stats_line(stats: ReplyStats, model: str = "", *, provider_id: str = "", language: str = ENGLISH) -> str:
    """Tokens in and out, time to first token, total time, the cost wherever it is known, and the
    model, with the provider's id in an attribute (read back by exports and saved chats:
    conversation/text.py's reply_origin)."""
    usage = stats.usage
    approx = "~" if usage.estimated else ""
    parts = [
        say(language, "stats_in", count=f"{approx}{usage.prompt_tokens:,}"),
        say(language, "stats_out", count=f"{approx}{usage.completion_tokens:,}"),
    ]
    if stats.first_token_seconds is not None:
        parts.append(say(language, "stats_first_token", time=_duration(stats.first_token_seconds)))
    parts.append(say(language, "stats_total", time=_duration(stats.total_seconds)))
    if stats.cost is not None:
        parts.append(f"{approx}{dollars(stats.cost)}")
    if model and not any(c.isspace() or c in "<>·" for c in model):
        parts.append(say(language, "stats_model", model=model))
    # A provider id is one of the table's (the page's dropdown takes no other); checked anyway.
    origin = f' data-provider="{provider_id}"' if _PROVIDER_ID.fullmatch(str(provider_id)) else ""
    # Our own numbers only, escaped anyway: this is rendered as HTML.
    return f'\n\n<span class="{REPLY_STATS_CLASS}"{origin}>{html.escape(" · ".join(parts))}</span>'


def dollars(amount: float) -> str:
    """ "$0.00042", "$1.25": enough digits for a fraction of a cent, no trailing zeros."""
    if amount >= 1:
        return f"${amount:,.2f}"
    return "$" + f"{amount:.6f}".rstrip("0").rstrip(".") if amount else "$0"


def _duration(seconds: float) -> str:
    # Under a second in milliseconds: a fast reply is "40 ms", never "0.0 s".
    return f"{max(1, round(seconds * 1000))} ms" if seconds < 1 else f"{seconds:.1f} s"


def effort_shown(provider: Provider, model: object) -> bool:
    """The effort setting is shown only where the provider and model take it."""
    return isinstance(model, str) and provider.family(model).reasoning is not None


@dataclass(frozen=True, slots=True)
class TemperatureView:
    # Can the visitor choose a temperature for this model (untick "provider's default")?
    choosable: bool
    info: Phrase


def temperature_view(provider: Provider, model: object, effort: object) -> TemperatureView:
    """Whether a temperature may be chosen for this model and effort, and what the page says."""
    name = model if isinstance(model, str) else ""
    family = provider.family(name)
    if family.takes("temperature", parse_effort(effort)):
        return TemperatureView(True, Phrase("page_temperature_info"))
    if family.takes("temperature"):
        return TemperatureView(False, Phrase("page_temperature_while_thinking"))
    return TemperatureView(False, Phrase("temperature_set_by_provider", {"provider": provider.label}))


class SessionChoices:
    """A per-session setting set by a private event on its sidebar control (the reasoning effort;
    whether the visitor chose a temperature).

    Kept beside the chat event rather than as one of its inputs, so the public chat endpoint keeps
    its shape for API callers. Bounded like Gradio's own per-session memory, and dropped when the
    session ends. ``parse`` turns anything (a forged value, an API header, None) into a known one.
    """

    def __init__(self, parse: Callable[[object], str], limit: int = 10_000) -> None:
        self._parse = parse
        self._limit = limit
        self._lock = threading.Lock()
        self._by_session: OrderedDict[str, str] = OrderedDict()

    def set(self, session_hash: str | None, value: object) -> None:
        if not session_hash:
            return
        with self._lock:
            self._by_session[session_hash] = self._parse(value)
            self._by_session.move_to_end(session_hash)
            while len(self._by_session) > self._limit:
                self._by_session.popitem(last=False)

    def get(self, session_hash: str | None, fallback: object = None) -> str:
        """The session's choice, else ``fallback`` parsed (an API caller's header)."""
        with self._lock:
            chosen = self._by_session.get(session_hash or "")
        return chosen or self._parse(fallback)

    def forget(self, session_hash: str | None) -> None:
        with self._lock:
            self._by_session.pop(session_hash or "", None)


def temperature_mode(provider_default: object) -> str:
    """The "provider's default" box: only an unticked box (False) means the visitor chose one."""
    return "chosen" if provider_default is False else "default"


# Remote images in replies become links, so the page never fetches from elsewhere (the CSP also
# blocks it); code spans and blocks are left as written.
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)
_MD_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?(https?://[^)\s>]+)>?(?:\s+\"[^\"\n]*\")?\s*\)", re.I)


# A reply may draw over the page (a full-window "Session expired" link) or ask for input in a
# form of its own: forms and their fields go, and so does every inline style, outside code.
_FORM_TAG = re.compile(r"</?(?:form|input|button|textarea|select|option|fieldset)\b[^>]*>", re.I)
_STYLE_ATTRIBUTE = re.compile(r"""\s+style\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_TAG = re.compile(r"<[a-zA-Z][^>]*>")


def link_remote_media(text: str) -> str:
    """What a reply, its reasoning or an imported message shows, outside code: markdown images
    with a remote URL become links (``![a](u)`` -> ``[a](u)``), forms and inputs are removed, and
    inline styles are dropped from tags."""
    if "](" not in text and "<" not in text:
        return text
    out: list[str] = []
    last = 0
    for code in _CODE.finditer(text):
        out.append(_outside_code(text[last : code.start()]))
        out.append(code.group(0))
        last = code.end()
    out.append(_outside_code(text[last:]))
    return "".join(out)


def _outside_code(text: str) -> str:
    text = _MD_IMAGE.sub(_as_link, text)
    text = _FORM_TAG.sub("", text)
    return _TAG.sub(lambda tag: _STYLE_ATTRIBUTE.sub("", tag.group(0)), text)


def _as_link(match: re.Match[str]) -> str:
    label = match.group(1).strip() or "image"
    return f"[{label}]({match.group(2)})"
