"""Export a conversation as Markdown or JSON, and import a JSON export to continue it.

The JSON export is a chat-completions request body, ``{"model": ..., "messages": [...]}``, in
OpenAI's messages format: the system prompt first, then user and assistant turns. It never holds a
key (no key is ever part of a conversation). Reasoning is included only when asked for, as
``reasoning_content`` on the assistant turn it belongs to (the field DeepSeek and others use).

An import is a file from the browser, so it is checked like forged history (request.py):
only system, user and assistant roles, text content only (no files, paths, images or URLs as
content parts), bounded sizes, control characters removed. Unlike history, which is filtered
quietly, an import that breaks a rule is refused as a whole with a message saying which rule.
Messages never repeat the file's text: Gradio renders error text as HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import errors
from errors import InputRejected

from .text import clean_text, content_text, last_reply_model, without_annotations

__all__ = ["MAX_IMPORT_BYTES", "MAX_IMPORT_MESSAGES", "Imported", "export_json", "export_markdown", "parse_import"]

MAX_IMPORT_BYTES = 2_000_000
MAX_IMPORT_MESSAGES = 1000
_IMPORT_ROLES = frozenset({"system", "user", "assistant"})
_MESSAGE_KEYS = frozenset({"role", "content", "reasoning_content", "name"})
_TOP_KEYS = frozenset({"model", "messages"})


def _error_titles() -> frozenset[str]:
    titles: set[str] = set()
    stack: list[type[errors.ByokError]] = [errors.ByokError]
    while stack:
        cls = stack.pop()
        titles.add(cls.title)
        stack.extend(cls.__subclasses__())
    return frozenset(titles)


@dataclass(frozen=True, slots=True)
class _Turn:
    role: str
    content: str
    reasoning: str = ""


def _turns(history: object, *, include_reasoning: bool) -> list[_Turn]:
    """User and assistant turns as the chat shows them; error bubbles dropped, reasoning kept apart."""
    if not isinstance(history, list):
        return []
    error_titles = _error_titles()
    turns: list[_Turn] = []
    pending_reasoning: list[str] = []
    for entry in history:
        if not isinstance(entry, Mapping) or entry.get("role") not in ("user", "assistant"):
            continue
        text = clean_text(content_text(entry.get("content")))
        metadata = entry.get("metadata")
        title = metadata.get("title") if isinstance(metadata, Mapping) else None
        if title:
            # A titled bubble is UI: our error messages, or a model's reasoning shown apart.
            if include_reasoning and entry["role"] == "assistant" and title not in error_titles and text.strip():
                pending_reasoning.append(text.strip())
            continue
        if entry["role"] == "assistant":
            # Our own numbers line and cut-off/stopped marks are page furniture, not the model's words.
            text = without_annotations(text)
        if not text.strip():
            continue
        reasoning = "\n\n".join(pending_reasoning) if entry["role"] == "assistant" else ""
        if entry["role"] == "assistant":
            pending_reasoning = []
        turns.append(_Turn(str(entry["role"]), text, reasoning))
    return turns


def export_json(history: object, system_prompt: object, model: object, *, include_reasoning: bool = False) -> str:
    # The model the chat's replies came from, not whatever the model box says now.
    model = last_reply_model(history) or model
    messages: list[dict[str, str]] = []
    if isinstance(system_prompt, str) and system_prompt.strip():
        messages.append({"role": "system", "content": clean_text(system_prompt).strip()})
    for turn in _turns(history, include_reasoning=include_reasoning):
        message = {"role": turn.role, "content": turn.content}
        if turn.reasoning:
            message["reasoning_content"] = turn.reasoning
        messages.append(message)
    body: dict[str, Any] = {"model": model if isinstance(model, str) else "", "messages": messages}
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def export_markdown(history: object, system_prompt: object, model: object, *, include_reasoning: bool = False) -> str:
    model = last_reply_model(history) or model
    lines = ["# Conversation", ""]
    if isinstance(model, str) and model:
        lines += [f"Model: `{model}`", ""]
    if isinstance(system_prompt, str) and system_prompt.strip():
        lines += ["## System", "", clean_text(system_prompt).strip(), ""]
    for turn in _turns(history, include_reasoning=include_reasoning):
        lines += [f"## {'User' if turn.role == 'user' else 'Assistant'}", ""]
        if turn.reasoning:
            quoted = "\n".join(f"> {line}" if line else ">" for line in turn.reasoning.splitlines())
            lines += ["> **Reasoning**", ">", quoted, ""]
        lines += [turn.content, ""]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Imported:
    system_prompt: str | None
    # Ready for the chatbot: plain {"role", "content"} dicts, user and assistant only.
    messages: list[dict[str, str]]


def parse_import(raw: bytes, *, max_message_chars: int) -> Imported:
    """A JSON export, checked; or InputRejected saying what is wrong (never quoting the file)."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise InputRejected(f"That file is too large to import (the limit is {MAX_IMPORT_BYTES // 1_000_000} MB).")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputRejected("That file is not a JSON export from this app (it is not valid JSON).") from None
    if isinstance(payload, Mapping):
        if not set(payload) <= _TOP_KEYS or not isinstance(payload.get("messages"), list):
            raise InputRejected('That file is not a JSON export from this app: expected {"model", "messages"}.')
        if "model" in payload and not isinstance(payload["model"], str):
            raise InputRejected("That file is not a JSON export from this app: the model must be text.")
        entries = payload["messages"]
    elif isinstance(payload, list):
        entries = payload
    else:
        raise InputRejected("That file is not a JSON export from this app: expected a list of messages.")
    if len(entries) > MAX_IMPORT_MESSAGES:
        raise InputRejected(f"That conversation is too long to import (at most {MAX_IMPORT_MESSAGES} messages).")
    system: str | None = None
    messages: list[dict[str, str]] = []
    # Assistant replies may be longer than what a visitor may type; the cap still bounds them.
    limit = max_message_chars * 4
    for number, entry in enumerate(entries, start=1):
        role, text = _imported_message(entry, number, limit)
        if role == "system":
            if number != 1:
                raise InputRejected(f"Message {number} is a system prompt; only the first message may be one.")
            system = text.strip()[:max_message_chars]
            continue
        if text.strip():
            messages.append({"role": role, "content": text})
    if not messages:
        raise InputRejected("That file has no user or assistant messages to import.")
    return Imported(system_prompt=system, messages=messages)


def _imported_message(entry: object, number: int, limit: int) -> tuple[str, str]:
    if not isinstance(entry, Mapping):
        raise InputRejected(f"Message {number} is not a message object.")
    if not set(entry) <= _MESSAGE_KEYS:
        raise InputRejected(
            f"Message {number} has fields this app does not import (only role, content and reasoning_content)."
        )
    role = entry.get("role")
    if not isinstance(role, str) or role not in _IMPORT_ROLES:
        raise InputRejected(f"Message {number} has a role other than system, user or assistant.")
    text = _imported_text(entry.get("content"), number)
    if len(text) > limit:
        raise InputRejected(f"Message {number} is too long to import (over {limit:,} characters).")
    # reasoning_content is accepted and dropped: reasoning is never sent back to a model.
    return role, clean_text(text)


def _imported_text(content: object, number: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if not (isinstance(part, Mapping) and set(part) == {"type", "text"} and part.get("type") == "text"):
                raise InputRejected(
                    f"Message {number} has content other than text (files, images and links are not imported)."
                )
            if not isinstance(part["text"], str):
                raise InputRejected(f"Message {number} has text that is not a string.")
            texts.append(part["text"])
        return "\n".join(texts)
    raise InputRejected(f"Message {number} has content other than text (files, images and links are not imported).")
