"""Speak Gradio's queue protocol by hand, the way an attacker's script would.

gradio_client only calls documented endpoints; these helpers call any fn_index with any data,
which is what `api_visibility` does not stop.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class EventResult:
    status: int
    events: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""

    @property
    def completed(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("msg") == "process_completed"), None)

    @property
    def success(self) -> bool:
        done = self.completed
        return bool(done and done.get("success"))

    @property
    def output(self) -> list[Any] | None:
        done = self.completed
        return (done.get("output") or {}).get("data") if done else None

    @property
    def error(self) -> str | None:
        done = self.completed
        return (done.get("output") or {}).get("error") if done else None


def config(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx.get(f"{url}/config", headers=headers or {})
    response.raise_for_status()
    return response.json()


def fn_index(cfg: dict[str, Any], api_name: str) -> int:
    return next(d["id"] for d in cfg["dependencies"] if d.get("api_name") == api_name)


def chat_data(cfg: dict[str, Any], message: object, provider: object, model: object, **extra: object) -> list[Any]:
    """Inputs of the chat event in order: message, history, provider, model, system, temperature,
    max tokens, then the session-state slot the browser sends as null."""
    history = extra.get("history", [])
    return [
        message,
        history,
        provider,
        model,
        extra.get("system", "Be brief."),
        extra.get("temperature", 0.5),
        extra.get("max_tokens", 100),
        None,
    ]


def run_event(
    url: str,
    index: int,
    data: list[Any],
    *,
    headers: dict[str, str] | None = None,
    session_hash: str | None = None,
    timeout: float = 30.0,
) -> EventResult:
    session_hash = session_hash or secrets.token_hex(6)
    payload = {"data": data, "fn_index": index, "session_hash": session_hash, "event_data": None, "trigger_id": None}
    with httpx.Client(timeout=timeout, headers=headers or {}) as client:
        joined = client.post(f"{url}/gradio_api/queue/join", json=payload)
        if joined.status_code != 200:
            return EventResult(status=joined.status_code, raw=joined.text)
        return _read_stream(client, url, session_hash)


def chat(
    url: str, model: str, *, message: str = "hi", provider: str = "groq", headers: dict[str, str] | None = None
) -> EventResult:
    """One chat, sent the way a script sends it: the chat event's index and inputs read from
    ``/config``, every other input at its default."""
    cfg = config(url)
    return run_event(url, fn_index(cfg, "chat"), chat_data(cfg, message, provider, model), headers=headers)


async def run_event_async(
    client: httpx.AsyncClient, url: str, index: int, data: list[Any], *, session_hash: str | None = None
) -> EventResult:
    session_hash = session_hash or secrets.token_hex(6)
    payload = {"data": data, "fn_index": index, "session_hash": session_hash, "event_data": None, "trigger_id": None}
    joined = await client.post(f"{url}/gradio_api/queue/join", json=payload)
    if joined.status_code != 200:
        return EventResult(status=joined.status_code, raw=joined.text)
    result = EventResult(status=200)
    async with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        async for line in stream.aiter_lines():
            if _collect(result, line):
                break
    return result


def _read_stream(client: httpx.Client, url: str, session_hash: str) -> EventResult:
    result = EventResult(status=200)
    with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        for line in stream.iter_lines():
            if _collect(result, line):
                break
    return result


def _collect(result: EventResult, line: str) -> bool:
    """Record one SSE line; True when the event is over."""
    result.raw += line + "\n"
    if not line.startswith("data:"):
        return False
    event = json.loads(line[5:])
    result.events.append(event)
    return event.get("msg") in ("process_completed", "close_stream", "unexpected_error")


# The page's browser cookie: with the __Host- prefix wherever it can be Secure (loopback, https).
BROWSER_COOKIES = ("__Host-byok_browser=", "byok_browser=")


@dataclass(frozen=True)
class Visit:
    """One browser tab as the server sees it: the cookie its page load was given and the session
    hash its script made. A script that never loads the page has no cookie (``cookie == ""``)."""

    url: str
    session_hash: str
    cookie: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"cookie": self.cookie} if self.cookie else {}


def open_page(url: str) -> Visit:
    """Load the page as a browser does, keeping the browser cookie it sets."""
    page = httpx.get(f"{url}/", headers={"accept": "text/html", "sec-fetch-mode": "navigate"})
    page.raise_for_status()
    cookies = [h.split(";", 1)[0] for h in page.headers.get_list("set-cookie") if h.startswith(BROWSER_COOKIES)]
    assert cookies, "the page set no browser cookie"
    return Visit(url=url, session_hash=secrets.token_hex(6), cookie=cookies[0])
