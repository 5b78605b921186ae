"""ASGI pieces used across the web boundary and by the chat: types, the peer and its headers, the
path inside the app, and the client's name for quotas and throttling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from config.network import TrustedProxies

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send", "app_path", "client_id", "peer_and_headers"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def peer_and_headers(scope: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    return peer, headers


def client_id(peer: str, headers: Mapping[str, str], trusted: TrustedProxies, *, username: str | None = None) -> str:
    if username:
        return f"user:{username}"
    return f"ip:{trusted.client_address(peer, headers.get('x-forwarded-for'))}"


def app_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
