"""What the adapter is asked to send: one checked request, built on the server by
:func:`conversation.build_request` from what the browser sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import Provider

__all__ = ["ChatRequest", "content_chars"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    provider: Provider
    model: str
    # content is a string, or a list of OpenAI content parts when the message carries images.
    messages: tuple[dict[str, Any], ...]
    # None: the provider's own default, which is what a chat sends unless someone chose one.
    temperature: float | None
    max_tokens: int
    # A reasoning effort (reasoning.EFFORTS); "default" sends nothing.
    effort: str = "default"
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
