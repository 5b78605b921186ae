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

from errors import ImagesNotAccepted, InputRejected
from providers.reasoning import parse_effort
from providers.registry import VISITOR_ENDPOINT
from providers.request import ChatRequest
from providers.urlguard import check_visitor_url
from words import Phrase

from .attachments import Attachment, FileRejected, ReadFiles, SessionFiles
from .text import clean_text, content_text, without_annotations

if TYPE_CHECKING:
    from config.settings import Settings
    from providers.registry import Provider

__all__ = [
    "ChatInputs",
    "RequestPlan",
    "build_request",
    "plan_request",
]

_ROLES = frozenset({"user", "assistant"})
_MODEL_NAME = re.compile(r"[\x21-\x7e]{1,200}")
# Providers cap images per request (Groq at 5, others far higher); the newest are the ones kept.
MAX_IMAGES_PER_REQUEST = 16
_NO_FILES_HERE = "refused_files_not_here"


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
    # The page's effort setting, or an API caller's X-Reasoning-Effort header.
    effort: object = "default"
    # This session's uploads, when the caller is a browser the boundary knows; None otherwise.
    files: SessionFiles | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPlan:
    """Everything the browser sent, checked, and the files it names, not yet read: the service
    decides whether a key may be spent before any file is decoded."""

    settings: Settings
    inputs: ChatInputs
    provider: Provider
    visitor_base_url: str | None
    text: str
    recent: list[object]
    model: str
    effort: str
    temperature: float | None
    new_files: list[object]
    earlier_files: list[object]

    async def read_files(self) -> ReadFiles:
        """Every file this request uses, checked and decoded in one call."""
        files = self.inputs.files
        if files is None:
            return ReadFiles(new=[], earlier={})
        return await files.read(new=self.new_files, earlier=self.earlier_files)

    def build(self, files: ReadFiles) -> ChatRequest:
        if len(files.new) != len(self.new_files):
            raise RuntimeError("build a request from the files its plan named")
        settings, inputs, text = self.settings, self.inputs, self.text
        attachments = files.new
        if not text.strip() and not attachments:
            raise InputRejected("refused_empty_message")
        takes_images = self.provider.takes_images(self.model)
        images = [a.data_url for a in attachments if a.kind == "image"]
        if images and takes_images is False:
            raise ImagesNotAccepted(self.provider.label)
        text, notes = _with_text_files(text, [a for a in attachments if a.kind == "text"], settings.max_message_chars)
        turns = _history_turns(self.recent, settings, files.earlier)
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
            provider=self.provider,
            model=self.model,
            messages=tuple(messages),
            temperature=self.temperature,
            max_tokens=int(
                _bounded(inputs.max_tokens, "setting_max_tokens", 1, settings.max_output_tokens, default=1024)
            ),
            effort=self.effort,
            visitor_base_url=self.visitor_base_url,
            allow_local=settings.allow_local_base_url,
            notes=tuple(notes),
        )


def plan_request(settings: Settings, inputs: ChatInputs) -> RequestPlan:
    """Check everything the browser sent except the files' contents; nothing is read yet."""
    provider = settings.provider(inputs.provider_id)
    if provider is None:
        raise InputRejected("refused_unknown_provider")
    visitor_base_url = None
    if provider.id == VISITOR_ENDPOINT.id:
        if not isinstance(inputs.base_url, str) or not inputs.base_url.strip():
            raise InputRejected("refused_endpoint_missing")
        visitor_base_url = check_visitor_url(inputs.base_url.strip(), allow_local=settings.allow_local_base_url)
    text = _message_text(inputs.message)
    if len(text) > settings.max_message_chars:
        raise InputRejected(
            Phrase("refused_message_too_long", {"count": f"{len(text):,}", "limit": f"{settings.max_message_chars:,}"})
        )
    recent = _recent_history(inputs.history, settings)
    new_files = _message_files(inputs.message, inputs.files, settings)
    earlier_files = [path for entry in recent for path in _history_files(entry)]
    if earlier_files and inputs.files is None:
        raise FileRejected(_NO_FILES_HERE)
    if not text.strip() and not new_files:
        raise InputRejected("refused_empty_message")
    model = _model(inputs.model, provider, settings)
    effort = parse_effort(inputs.effort)
    return RequestPlan(
        settings=settings,
        inputs=inputs,
        provider=provider,
        visitor_base_url=visitor_base_url,
        text=text,
        recent=recent,
        model=model,
        effort=effort,
        temperature=_temperature(inputs.temperature, provider, model, effort),
        new_files=new_files,
        earlier_files=earlier_files,
    )


def build_request(settings: Settings, inputs: ChatInputs) -> ChatRequest:
    """A request whose message names no files, built in one call (scripts and tests)."""
    plan = plan_request(settings, inputs)
    return plan.build(ReadFiles(new=[], earlier={}))


def _message_files(message: object, files: SessionFiles | None, settings: Settings) -> list[object]:
    listed = message.get("files") if isinstance(message, Mapping) else None
    if not listed:
        return []
    if not isinstance(listed, list):
        raise FileRejected("refused_files_invalid")
    if files is None:
        raise FileRejected(_NO_FILES_HERE)
    if len(listed) > settings.max_files_per_message:
        raise FileRejected(
            Phrase("refused_too_many_files", {"limit": settings.max_files_per_message, "count": len(listed)})
        )
    return [entry.get("path") if isinstance(entry, Mapping) else entry for entry in listed]


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
                notes.append(Phrase("note_file_left_out", {"name": attachment.name, "limit": f"{limit:,}"}))
                continue
            notes.append(
                Phrase("note_file_cut", {"name": attachment.name, "keep": f"{keep:,}", "count": f"{len(body):,}"})
            )
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
        raise InputRejected("refused_message_not_text")
    return clean_text(message)


def _recent_history(history: object, settings: Settings) -> list[object]:
    if not isinstance(history, list):
        return []
    return history[-(settings.max_history_messages * 4 or 1) :]


def _history_files(entry: object) -> list[object]:
    """The files a history entry names: only user turns that are conversation carry any."""
    if not isinstance(entry, Mapping) or entry.get("role") != "user" or _is_ui_bubble(entry):
        return []
    return _content_files(entry.get("content"))


def _is_ui_bubble(entry: Mapping[str, Any]) -> bool:
    metadata = entry.get("metadata")
    return isinstance(metadata, Mapping) and bool(metadata.get("title"))


def _history_turns(
    recent: list[object], settings: Settings, earlier: Mapping[str, Attachment | None]
) -> list[dict[str, Any]]:
    parsed = (_turn(entry, settings.max_message_chars, earlier) for entry in recent)
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


def _turn(entry: object, max_chars: int, earlier: Mapping[str, Attachment | None]) -> dict[str, Any] | None:
    if not isinstance(entry, Mapping):
        return None
    role = entry.get("role")
    # An unhashable role (a list, a dict) would make the set lookup raise TypeError.
    if not isinstance(role, str) or role not in _ROLES:
        return None
    if _is_ui_bubble(entry):
        return None  # Titled bubbles (errors, Gradio's "thoughts") are UI, not conversation.
    content = entry.get("content")
    text = content_text(content)
    if role == "assistant":
        text = without_annotations(text)
    text = clean_text(text)[:max_chars]
    typed = bool(text.strip())
    images: list[str] = []
    if role == "user":
        attachments = [a for path in _content_files(content) if isinstance(path, str) and (a := earlier.get(path))]
        images = [a.data_url for a in attachments if a.kind == "image"]
        text, _ = _with_text_files(text, [a for a in attachments if a.kind == "text"], max_chars)
    if not text.strip() and not images:
        return None
    return {"role": str(role), "content": text, "images": images, "files_only": not typed}


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
        raise InputRejected("refused_model_name")
    return model.strip()


def _temperature(value: object, provider: Provider, model: str, effort: str) -> float | None:
    """The visitor's temperature, or None for the provider's own. A temperature the model does
    not take is refused before anything is sent: a script asked for it, and silently leaving it
    out would answer with sampling it did not ask for."""
    if value is None or value == "":
        return None
    temperature = _bounded(value, "setting_temperature", 0.0, 2.0)
    family = provider.family(model)
    if family.takes("temperature", effort):
        return temperature
    if family.takes("temperature"):
        raise InputRejected(Phrase("refused_temperature_while_thinking", {"effort": effort}))
    raise InputRejected(Phrase("refused_temperature", {"provider": provider.label}))


def _bounded(value: object, name: str, low: float, high: float, *, default: float | None = None) -> float:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputRejected(Phrase("refused_not_a_number", {"name": Phrase(name)}))
    try:
        number = float(value)
    except ValueError:
        raise InputRejected(Phrase("refused_not_a_number", {"name": Phrase(name)})) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InputRejected(
            Phrase("refused_out_of_range", {"name": Phrase(name), "low": f"{low:g}", "high": f"{high:g}"})
        )
    return number
