"""Turn what the browser sent into a request we are willing to make.

Everything here comes from the client and may be forged: raw queue calls can put system or tool
turns, fake assistant turns, huge strings, lone surrogates or wrong types into ``history``. We keep
only user and assistant text, add the system prompt ourselves, and cap every size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import InputRejected
from .registry import VISITOR_ENDPOINT
from .urlguard import check_visitor_url

if TYPE_CHECKING:
    from .registry import Provider
    from .settings import Settings

__all__ = [
    "CUT_OFF_MARK",
    "REPLY_STATS_CLASS",
    "STOPPED_MARK",
    "ChatInputs",
    "ChatRequest",
    "build_request",
    "clean_text",
]

# Appended to a partial reply that the provider stopped sending, or that the visitor stopped.
# Stripped again from history so the model never sees our own annotation as something it said.
CUT_OFF_MARK = "\n\n*[Reply cut off: the provider stopped sending before the end.]*"
STOPPED_MARK = "\n\n*[Stopped: you stopped this reply.]*"
_MARKS = (CUT_OFF_MARK, STOPPED_MARK)

# The page shows a muted line of numbers (tokens, timings, cost) under each answer, in a span of
# this class. It is ours, not the model's: stripped from history before anything goes upstream.
REPLY_STATS_CLASS = "reply-stats"
_REPLY_STATS = re.compile(r'\n\n<span class="' + REPLY_STATS_CLASS + r'">[^<>]*</span>\s*\Z')

_ROLES = frozenset({"user", "assistant"})
# C0/C1 controls except tab and newline, plus DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MODEL_NAME = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    provider: Provider
    model: str
    messages: tuple[dict[str, str], ...]
    temperature: float
    max_tokens: int
    # Set only for the visitor's own endpoint: a checked URL that goes through the network guard.
    visitor_base_url: str | None = None
    allow_local: bool = False

    @property
    def base_url(self) -> str:
        return self.visitor_base_url or self.provider.base_url


def clean_text(value: str) -> str:
    """Drop control characters and replace lone surrogates, which JSON encoders choke on."""
    value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatInputs:
    """One chat as the browser or an API caller sent it: untrusted, and of any type."""

    message: object
    history: object
    provider_id: object
    model: object
    system_prompt: object
    temperature: object
    max_tokens: object
    base_url: object = None


def build_request(settings: Settings, inputs: ChatInputs) -> ChatRequest:
    provider = settings.provider(inputs.provider_id)
    if provider is None:
        raise InputRejected("Unknown provider. Pick one from the list.")
    visitor_base_url = None
    if provider.id == VISITOR_ENDPOINT.id:
        if not isinstance(inputs.base_url, str) or not inputs.base_url.strip():
            raise InputRejected("Enter your endpoint's base URL, for example https://api.example.com/v1.")
        visitor_base_url = check_visitor_url(inputs.base_url.strip(), allow_local=settings.allow_local_base_url)
    text = _message_text(inputs.message)
    if not text.strip():
        raise InputRejected("Type a message first.")
    if len(text) > settings.max_message_chars:
        raise InputRejected(
            f"That message is too long ({len(text):,} characters; the limit is "
            f"{settings.max_message_chars:,}). Shorten it or split it up."
        )
    turns = _history_turns(inputs.history, settings)
    # The box starts with SYSTEM_PROMPT and whatever it holds is sent; empty means no system
    # message at all, for the page and scripts alike. Only a non-text value falls back to ours.
    system = clean_text(inputs.system_prompt if isinstance(inputs.system_prompt, str) else settings.system_prompt)
    system = system.strip()[: settings.max_message_chars]
    messages = [{"role": "system", "content": system}] if system else []
    messages += _merge_consecutive([*turns, {"role": "user", "content": text}])
    return ChatRequest(
        provider=provider,
        model=_model(inputs.model, provider, settings),
        messages=tuple(messages),
        temperature=_bounded(inputs.temperature, "Temperature", 0.0, 2.0, default=0.7),
        max_tokens=int(_bounded(inputs.max_tokens, "Max tokens", 1, settings.max_output_tokens, default=1024)),
        visitor_base_url=visitor_base_url,
        allow_local=settings.allow_local_base_url,
    )


def _message_text(message: object) -> str:
    # ChatInterface passes a str; a multimodal-shaped dict may come from a raw API call.
    if isinstance(message, Mapping):
        message = message.get("text", "")
    if not isinstance(message, str):
        raise InputRejected("The message must be text.")
    return clean_text(message)


def _history_turns(history: object, settings: Settings) -> list[dict[str, str]]:
    if not isinstance(history, list):
        return []
    recent = history[-(settings.max_history_messages * 4 or 1) :]
    parsed = (_turn(entry, settings.max_message_chars) for entry in recent)
    turns = _answered_only([turn for turn in parsed if turn is not None])
    kept: list[dict[str, str]] = []
    budget = settings.max_history_chars
    # Walk backwards: when something must go, it is the oldest turns.
    for turn in reversed(turns):
        if len(kept) >= settings.max_history_messages or budget <= 0:
            break
        turn["content"] = turn["content"][:budget]
        budget -= len(turn["content"])
        kept.append(turn)
    kept.reverse()
    # A conversation that starts with an assistant turn confuses some providers.
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept


def _answered_only(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """Drop user turns that got no reply: the chat failed (the page shows an error instead) or was
    stopped before any text. Sending them again, glued to the next message, would change what the
    visitor asked without showing it; the page's Retry button sends a failed message again."""
    return [
        turn
        for index, turn in enumerate(turns)
        if turn["role"] != "user" or (index + 1 < len(turns) and turns[index + 1]["role"] == "assistant")
    ]


def _turn(entry: object, max_chars: int) -> dict[str, str] | None:
    if not isinstance(entry, Mapping):
        return None
    role = entry.get("role")
    # An unhashable role (a list, a dict) would make the set lookup raise TypeError.
    if not isinstance(role, str) or role not in _ROLES:
        return None
    metadata = entry.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("title"):
        return None  # Titled bubbles (errors, Gradio's "thoughts") are UI, not conversation.
    text = _content_text(entry.get("content"))
    if role == "assistant":
        text = _REPLY_STATS.sub("", text)
        for mark in _MARKS:
            text = text.removesuffix(mark)
    text = clean_text(text)[:max_chars]
    return {"role": str(role), "content": text} if text.strip() else None


def _content_text(content: object) -> str:
    # Browser history carries typed parts; gradio_client history carries a plain string.
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, list):
        return "\n".join(_part_text(part) for part in content if _part_text(part))
    return ""


def _part_text(part: object) -> str:
    if isinstance(part, Mapping) and part.get("type") == "text":
        text = part.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _merge_consecutive(turns: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Join same-role neighbours (two replies in a row from a forged or odd history)."""
    merged: list[dict[str, str]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": merged[-1]["content"] + "\n\n" + turn["content"]}
        else:
            merged.append(dict(turn))
    return merged


def _model(model: object, provider: Provider, settings: Settings) -> str:
    if model is None or model == "":
        return settings.initial_model(provider)
    if not isinstance(model, str) or not _MODEL_NAME.fullmatch(model.strip()):
        raise InputRejected("That model name is not valid: use the model id without spaces (at most 200 characters).")
    return model.strip()


def _bounded(value: object, name: str, low: float, high: float, *, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputRejected(f"{name} must be a number.")
    try:
        number = float(value)
    except ValueError:
        raise InputRejected(f"{name} must be a number.") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InputRejected(f"{name} must be between {low:g} and {high:g}.")
    return number
