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
from words import LANGUAGES, Phrase, say

from .text import clean_text, content_text, last_reply_model, without_annotations

__all__ = ["MAX_IMPORT_BYTES", "MAX_IMPORT_MESSAGES", "Imported", "export_json", "export_markdown", "parse_import"]

MAX_IMPORT_BYTES = 2_000_000
MAX_IMPORT_MESSAGES = 1000
_IMPORT_ROLES = frozenset({"system", "user", "assistant"})
_MESSAGE_KEYS = frozenset({"role", "content", "reasoning_content", "name"})
_TOP_KEYS = frozenset({"model", "messages"})


def _error_titles() -> frozenset[str]:
    """Every error title in every language: a chat saved in one language may be exported in another."""
    titles: set[str] = set()
    stack: list[type[errors.ByokError]] = [errors.ByokError]
    while stack:
        cls = stack.pop()
        titles.update(say(language, cls.title_key) for language in LANGUAGES)
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
        raise InputRejected(Phrase("refused_import_too_large", {"limit": MAX_IMPORT_BYTES // 1_000_000}))
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputRejected("import_not_json") from None
    if isinstance(payload, Mapping):
        if not set(payload) <= _TOP_KEYS or not isinstance(payload.get("messages"), list):
            raise InputRejected("import_not_an_export")
        if "model" in payload and not isinstance(payload["model"], str):
            raise InputRejected("import_model_not_text")
        entries = payload["messages"]
    elif isinstance(payload, list):
        entries = payload
    else:
        raise InputRejected("import_no_message_list")
    if len(entries) > MAX_IMPORT_MESSAGES:
        raise InputRejected(Phrase("import_too_many_messages", {"limit": MAX_IMPORT_MESSAGES}))
    system: str | None = None
    messages: list[dict[str, str]] = []
    # Assistant replies may be longer than what a visitor may type; the cap still bounds them.
    limit = max_message_chars * 4
    for number, entry in enumerate(entries, start=1):
        role, text = _imported_message(entry, number, limit)
        if role == "system":
            if number != 1:
                raise InputRejected(Phrase("import_late_system_prompt", {"number": number}))
            system = text.strip()[:max_message_chars]
            continue
        if text.strip():
            messages.append({"role": role, "content": text})
    if not messages:
        raise InputRejected("import_no_messages")
    return Imported(system_prompt=system, messages=messages)


def _imported_message(entry: object, number: int, limit: int) -> tuple[str, str]:
    if not isinstance(entry, Mapping):
        raise InputRejected(Phrase("import_not_a_message", {"number": number}))
    if not set(entry) <= _MESSAGE_KEYS:
        raise InputRejected(Phrase("import_extra_fields", {"number": number}))
    role = entry.get("role")
    if not isinstance(role, str) or role not in _IMPORT_ROLES:
        raise InputRejected(Phrase("import_bad_role", {"number": number}))
    text = _imported_text(entry.get("content"), number)
    if len(text) > limit:
        raise InputRejected(Phrase("import_message_too_long", {"number": number, "limit": f"{limit:,}"}))
    # reasoning_content is accepted and dropped: reasoning is never sent back to a model.
    return role, clean_text(text)


def _imported_text(content: object, number: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if not (isinstance(part, Mapping) and set(part) == {"type", "text"} and part.get("type") == "text"):
                raise InputRejected(Phrase("import_not_text", {"number": number}))
            if not isinstance(part["text"], str):
                raise InputRejected(Phrase("import_text_not_string", {"number": number}))
            texts.append(part["text"])
        return "\n".join(texts)
    raise InputRejected(Phrase("import_not_text", {"number": number}))
