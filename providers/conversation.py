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
from typing import TYPE_CHECKING, Any

from .attachments import Attachment, FileRejected, SessionFiles
from .errors import ImagesNotAccepted, InputRejected
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
    "content_chars",
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
# Providers cap images per request (Groq at 5, others far higher); the newest are the ones kept.
MAX_IMAGES_PER_REQUEST = 16
_NO_FILES_HERE = (
    "Files can be sent only from the app's page, in a browser that keeps the app's cookie. "
    "Open the app in its own tab and attach the file there."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    provider: Provider
    model: str
    # content is a string, or a list of OpenAI content parts when the message carries images.
    messages: tuple[dict[str, Any], ...]
    temperature: float
    max_tokens: int
    # Set only for the visitor's own endpoint: a checked URL that goes through the network guard.
    visitor_base_url: str | None = None
    allow_local: bool = False
    # What the visitor should be told about the request (a text file that had to be cut).
    notes: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return self.visitor_base_url or self.provider.base_url

    @property
    def has_images(self) -> bool:
        return any(isinstance(m["content"], list) for m in self.messages)


def content_chars(content: object) -> int:
    """Characters of text in a message's content (images are not text)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return 0


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
    # This session's uploads, when the caller is a browser the boundary knows; None otherwise.
    files: SessionFiles | None = None


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
    if len(text) > settings.max_message_chars:
        raise InputRejected(
            f"That message is too long ({len(text):,} characters; the limit is "
            f"{settings.max_message_chars:,}). Shorten it or split it up."
        )
    attachments = _message_attachments(inputs.message, inputs.files, settings)
    if not text.strip() and not attachments:
        raise InputRejected("Type a message first.")
    model = _model(inputs.model, provider, settings)
    takes_images = provider.takes_images(model)
    images = [a.data_url for a in attachments if a.kind == "image"]
    if images and takes_images is False:
        raise ImagesNotAccepted(provider.label)
    text, notes = _with_text_files(text, [a for a in attachments if a.kind == "text"], settings.max_message_chars)
    turns = _history_turns(inputs.history, settings, inputs.files)
    if takes_images is False:
        # A chat that began on a vision model may go on without its images.
        for turn in turns:
            if turn["images"]:
                turn["images"] = []
                turn["content"] += "\n[An image was attached here; this model cannot see it.]"
    current = {"role": "user", "content": text, "images": images}
    _keep_newest_images([*turns, current])
    system = clean_text(inputs.system_prompt if isinstance(inputs.system_prompt, str) else settings.system_prompt)
    # The box starts with SYSTEM_PROMPT and whatever it holds is sent; empty means no system
    # message at all, for the page and scripts alike. Only a non-text value falls back to ours.
    system = system.strip()[: settings.max_message_chars]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    merged = _merge_consecutive([*turns, current])
    messages += [_as_message(turn) for turn in merged]
    return ChatRequest(
        provider=provider,
        model=model,
        messages=tuple(messages),
        temperature=_bounded(inputs.temperature, "Temperature", 0.0, 2.0, default=0.7),
        max_tokens=int(_bounded(inputs.max_tokens, "Max tokens", 1, settings.max_output_tokens, default=1024)),
        visitor_base_url=visitor_base_url,
        allow_local=settings.allow_local_base_url,
        notes=tuple(notes),
    )


def _message_attachments(message: object, files: SessionFiles | None, settings: Settings) -> list[Attachment]:
    listed = message.get("files") if isinstance(message, Mapping) else None
    if not listed:
        return []
    if not isinstance(listed, list):
        raise FileRejected("The message's files are not valid. Attach them again.")
    if files is None:
        raise FileRejected(_NO_FILES_HERE)
    if len(listed) > settings.max_files_per_message:
        raise FileRejected(
            f"Attach at most {settings.max_files_per_message} files to one message ({len(listed)} were attached)."
        )
    paths = [entry.get("path") if isinstance(entry, Mapping) else entry for entry in listed]
    return [files.admit(path) for path in paths]


def _with_text_files(text: str, attachments: list[Attachment], limit: int) -> tuple[str, list[str]]:
    """Append each text file as a fenced block named after it, within ``limit`` characters in all;
    a file that does not fit is cut, and both the model and the visitor are told where."""
    parts = [text] if text.strip() else []
    notes: list[str] = []
    room = limit - len(text)
    for attachment in attachments:
        body = clean_text(attachment.text)
        fence = "`" * max(3, _longest_backtick_run(body) + 1)
        overhead = len(attachment.name) + 2 * len(fence) + 4
        if len(body) + overhead > room:
            keep = max(0, room - overhead - 200)
            if keep == 0:
                notes.append(f"{attachment.name} was left out: the message is at its {limit:,}-character limit.")
                continue
            notes.append(f"{attachment.name} was cut: only its first {keep:,} of {len(body):,} characters were sent.")
            cut = f"\n[{attachment.name} was cut here: {len(body) - keep:,} more characters were not sent.]"
            body = body[:keep]
        else:
            cut = ""
        block = f"{fence}{attachment.name}\n{body}\n{fence}{cut}"
        room -= len(block) + 2
        parts.append(block)
    return "\n\n".join(parts), notes


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _keep_newest_images(turns: list[dict[str, Any]]) -> None:
    seen = 0
    for turn in reversed(turns):
        images = turn["images"]
        keep = max(0, min(len(images), MAX_IMAGES_PER_REQUEST - seen))
        turn["images"] = images[len(images) - keep :]
        seen += keep


def _as_message(turn: dict[str, Any]) -> dict[str, Any]:
    if not turn["images"]:
        return {"role": turn["role"], "content": turn["content"]}
    parts: list[dict[str, Any]] = [{"type": "text", "text": turn["content"]}] if turn["content"].strip() else []
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in turn["images"]]
    return {"role": turn["role"], "content": parts}


def _message_text(message: object) -> str:
    # ChatInterface passes a str; a multimodal-shaped dict may come from a raw API call.
    if isinstance(message, Mapping):
        message = message.get("text", "")
    if not isinstance(message, str):
        raise InputRejected("The message must be text.")
    return clean_text(message)


def _history_turns(history: object, settings: Settings, files: SessionFiles | None) -> list[dict[str, Any]]:
    if not isinstance(history, list):
        return []
    recent = history[-(settings.max_history_messages * 4 or 1) :]
    parsed = (_turn(entry, settings.max_message_chars, files) for entry in recent)
    turns = _answered_only(_fold_file_entries([turn for turn in parsed if turn is not None]))
    kept: list[dict[str, Any]] = []
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


def _fold_file_entries(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A user entry holding only files, followed by another user entry, is that message's
    attachments (the page may show a message's files and its text as separate entries)."""
    folded: list[dict[str, Any]] = []
    for turn in turns:
        previous = folded[-1] if folded else None
        if previous is not None and previous["role"] == "user" == turn["role"] and previous.pop("files_only", False):
            joined = "\n\n".join(t for t in (turn["content"], previous["content"]) if t.strip())
            folded[-1] = {**turn, "content": joined, "images": [*previous["images"], *turn["images"]]}
        else:
            folded.append(turn)
    for turn in folded:
        turn.pop("files_only", None)
    return folded


def _answered_only(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop user turns that got no reply: the chat failed (the page shows an error instead) or was
    stopped before any text. Sending them again, glued to the next message, would change what the
    visitor asked without showing it; the page's Retry button sends a failed message again."""
    return [
        turn
        for index, turn in enumerate(turns)
        if turn["role"] != "user" or (index + 1 < len(turns) and turns[index + 1]["role"] == "assistant")
    ]


def _turn(entry: object, max_chars: int, files: SessionFiles | None) -> dict[str, Any] | None:
    if not isinstance(entry, Mapping):
        return None
    role = entry.get("role")
    # An unhashable role (a list, a dict) would make the set lookup raise TypeError.
    if not isinstance(role, str) or role not in _ROLES:
        return None
    metadata = entry.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("title"):
        return None  # Titled bubbles (errors, Gradio's "thoughts") are UI, not conversation.
    content = entry.get("content")
    text = _content_text(content)
    if role == "assistant":
        text = _REPLY_STATS.sub("", text)
        for mark in _MARKS:
            text = text.removesuffix(mark)
    text = clean_text(text)[:max_chars]
    typed = bool(text.strip())
    images: list[str] = []
    if role == "user":
        attachments = [a for path in _content_files(content) if (a := _history_file(path, files)) is not None]
        images = [a.data_url for a in attachments if a.kind == "image"]
        text, _ = _with_text_files(text, [a for a in attachments if a.kind == "text"], max_chars)
    if not text.strip() and not images:
        return None
    return {"role": str(role), "content": text, "images": images, "files_only": not typed}


def _history_file(path: object, files: SessionFiles | None) -> Attachment | None:
    if files is None:
        raise FileRejected(_NO_FILES_HERE)
    return files.history(path)


def _content_files(content: object) -> list[object]:
    """File paths in a history entry: typed file parts, or bare FileData dicts."""
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, list):
        return []
    found: list[object] = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "file" or "path" in part or "url" in part:
            inner = part.get("file") if isinstance(part.get("file"), Mapping) else part
            named = inner.get("path") or inner.get("url")
        elif part.get("type") in ("image_url", "image"):
            # An OpenAI-shaped part planted by a raw caller: its URL is never fetched or sent.
            link = part.get("image_url") or part.get("url")
            named = link.get("url") if isinstance(link, Mapping) else link
        else:
            continue
        # A part that names no file at all has nothing to send; anything named is checked.
        if named is not None and named != "":
            found.append(named)
    return found


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
    # A multimodal message that went through the API is kept as [{"path": ...}, ..., "its text"].
    if isinstance(part, str):
        return part
    if isinstance(part, Mapping) and part.get("type") == "text":
        text = part.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _merge_consecutive(turns: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join same-role neighbours (two replies in a row from a forged or odd history)."""
    merged: list[dict[str, Any]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            last = merged[-1]
            joined = "\n\n".join(t for t in (last["content"], turn["content"]) if t)
            merged[-1] = {"role": turn["role"], "content": joined, "images": [*last["images"], *turn["images"]]}
        else:
            merged.append({"role": turn["role"], "content": turn["content"], "images": list(turn["images"])})
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
