"""Reasoning ("thinking") models: how to ask for an effort, and how to read the thinking back.

Asking: each provider documents its own form, recorded per model family in the registry as a
:class:`ReasoningControl`; :func:`effort_options` turns the visitor's choice into request fields.

Reading: providers send the model's thinking in one of three shapes, all handled by the stream
reader in ``chat.py``:

- ``delta.reasoning_content``: DeepSeek (https://api-docs.deepseek.com/guides/thinking_mode),
  vLLM before 0.11 (https://docs.vllm.ai/en/v0.10.0/features/reasoning_outputs.html) and
  llama.cpp's server with its default ``--reasoning-format``
  (https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md);
- ``delta.reasoning``: OpenRouter (https://openrouter.ai/docs/use-cases/reasoning-tokens),
  vLLM 0.11 and later, which renamed the field
  (https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/), and Groq with
  ``reasoning_format=parsed`` (https://console.groq.com/docs/reasoning);
- ``<think>…</think>`` at the start of ``delta.content``: models served without a reasoning parser,
  e.g. DeepSeek-R1 distills and Qwen3 on Ollama or llama.cpp (the tags are listed in SGLang's
  parser table, https://docs.sglang.io/docs/advanced_features/separate_reasoning).
  :class:`ThinkSplitter` takes them out of the answer.

Reasoning is shown to the visitor but never sent back upstream as history: DeepSeek answers 400
when ``reasoning_content`` comes back in a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EFFORTS",
    "ReasoningControl",
    "ThinkSplitter",
    "effort_options",
    "parse_effort",
]

# "default" sends nothing: the provider's own default, which is what byok-chat always sent
# before. "off" asks the model not to think where the provider documents a way to say so.
EFFORTS: tuple[str, ...] = ("default", "off", "low", "medium", "high")

Form = Literal["reasoning_effort", "openrouter", "deepseek", "anthropic"]

# Anthropic's thinking budget per effort: the figures LiteLLM maps `reasoning_effort` to, at and
# above Anthropic's minimum of 1,024 (https://docs.claude.com/en/docs/build-with-claude/extended-thinking).
_ANTHROPIC_BUDGETS = {"low": 1024, "medium": 2048, "high": 4096}
_THINKING = ("low", "medium", "high")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningControl:
    """How one family of a provider's models takes a reasoning effort."""

    form: Form
    # What "off" becomes in the `reasoning_effort` form; None when the model has no off switch
    # (then "off" sends nothing, as "default" does).
    off_value: str | None = None
    # Anthropic refuses temperature and top_k while Claude thinks.
    samples_while_thinking: bool = True
    docs: str = ""

    def thinks(self, effort: str) -> bool:
        """Does this effort turn the model's thinking on (rather than leave it to the provider)?"""
        return effort in _THINKING

    def budget(self, effort: str) -> int:
        """Output tokens the thinking may spend on top of the answer's max tokens: only Anthropic
        counts thinking inside `max_tokens` and needs room made for it."""
        return _ANTHROPIC_BUDGETS[effort] if self.form == "anthropic" and self.thinks(effort) else 0


def parse_effort(value: object) -> str:
    """An effort from the browser or an API header; anything unknown is the provider's default."""
    return value if isinstance(value, str) and value in EFFORTS else "default"


def effort_options(control: ReasoningControl | None, effort: str) -> dict[str, object]:
    """Request fields for ``effort`` in this model family's documented form; {} where none apply."""
    if control is None or effort == "default":
        return {}
    if control.form == "openrouter":
        # https://openrouter.ai/docs/use-cases/reasoning-tokens: effort "none" turns it off.
        return {"reasoning": {"effort": "none" if effort == "off" else effort}}
    if control.form == "deepseek":
        # https://api-docs.deepseek.com/guides/thinking_mode: a thinking switch plus an effort.
        if effort == "off":
            return {"thinking": {"type": "disabled"}}
        return {"thinking": {"type": "enabled"}, "reasoning_effort": effort}
    if control.form == "anthropic":
        # https://platform.claude.com/docs/en/api/openai-sdk: the compatibility layer ignores
        # `reasoning_effort` and takes Anthropic's own `thinking` object.
        if effort == "off":
            return {"thinking": {"type": "disabled"}}
        return {"thinking": {"type": "enabled", "budget_tokens": control.budget(effort)}}
    if effort == "off":
        return {"reasoning_effort": control.off_value} if control.off_value else {}
    return {"reasoning_effort": effort}


_OPEN = "<think>"
_CLOSE = "</think>"


class ThinkSplitter:
    """Splits inline ``<think>…</think>`` off the start of a streamed answer.

    Only a reply that *starts* with the tag (after whitespace) is split; a tag later in an answer
    is the model talking about tags and stays in the text. Tags may arrive cut across chunks, so
    a few characters are held back until it is clear what they are. Once the answer has started,
    each chunk passes through untouched: the cost per chunk is one comparison.
    """

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state = 0  # 0: undecided, 1: inside <think>, 2: answer, 3: after </think>, before the answer
        self._held = ""

    def feed(self, content: str) -> tuple[str, str]:
        """(reasoning, answer) text carried by this chunk of ``delta.content``."""
        if self._state == 2:
            return "", content
        if self._state == 3:
            # Just after "</think>": the blank lines before the answer are not part of it.
            text = content.lstrip()
            if text:
                self._state = 2
            return "", text
        text = self._held + content
        self._held = ""
        if self._state == 0:
            stripped = text.lstrip()
            if not stripped or (len(stripped) < len(_OPEN) and _OPEN.startswith(stripped)):
                self._held = text  # "", " ", "<thi": wait for more
                return "", ""
            if not stripped.startswith(_OPEN):
                self._state = 2
                return "", text
            self._state = 1
            text = stripped[len(_OPEN) :]
        end = text.find(_CLOSE)
        if end >= 0:
            answer = text[end + len(_CLOSE) :].lstrip()
            self._state = 2 if answer else 3
            return text[:end], answer
        # Hold back a tail that could be the start of "</think>".
        keep = _partial_suffix(text, _CLOSE)
        if keep:
            self._held = text[-keep:]
            text = text[:-keep]
        return text, ""

    def flush(self) -> tuple[str, str]:
        """At the end of the stream: whatever was held back, as what it most likely was."""
        held, self._held = self._held, ""
        if self._state == 1:
            return held, ""
        return "", held


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
