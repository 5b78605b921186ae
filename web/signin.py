"""A visitor's Hugging Face sign-in token, kept like a typed key: on the server, for one browser.

On a Space whose login grants the ``inference-api`` scope, the access token Gradio's login receives
spends the visitor's money on Inference Providers. Gradio keeps the whole login, token included, in
Starlette's session cookie, which is signed, not encrypted: anyone who sees the cookie can read the
token and spend with it. :class:`SignInCustody` takes every token out of that session before the
cookie is written, and :class:`SignInTokens` keeps the access token in server memory under the
browser's ``byok_browser`` cookie (web/boundary.py), for the Hugging Face row only.

A token is gone when the visitor signs out, when it expires, when the provider refuses it, and
shortly after the last page of that browser closes (the grace lets a reload, or the redirect back
from the sign-in page, find it). A session hash alone reaches none of it: the boundary refuses a
session used by another browser.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from config.keys import HubSignIn
from config.secret import Secret

from .asgi import ASGIApp, Message, Receive, Scope, Send, app_path
from .sessions import BROWSER_OWNER_KEY

__all__ = ["INFERENCE_SCOPE", "SignInCustody", "SignInTokens", "grants_inference"]

log = logging.getLogger("byok_chat.signin")

# The Hub's OAuth scope for "inference requests on behalf of the user":
# https://huggingface.co/docs/hub/oauth#currently-supported-scopes
INFERENCE_SCOPE = "inference-api"
_CALLBACK = "/login/callback"
_SIGN_OUT = "/logout"
# Everything in Gradio's stored login that can act for the visitor. The rest (who they are, when
# the login expires, the scopes) stays: the page and the allow list read it.
_TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")
# Open pages one browser's sign-in follows; pages beyond it use the token without keeping it alive.
_MAX_PAGES = 100
# How often the whole store is checked for expired and abandoned tokens (each lookup checks its own).
_SWEEP_SECONDS = 5.0
# authlib keeps each sign-in attempt's state under this prefix until the callback consumes it.
_ATTEMPT_PREFIX = "_state_huggingface"


def grants_inference(scopes: str | None) -> bool:
    return INFERENCE_SCOPE in (scopes or "").split()


@dataclass(slots=True)
class _Held:
    token: Secret
    username: str
    expires_at: float  # wall clock, as the provider said
    sessions: set[str] = field(default_factory=set)
    bill_to: str | None = None  # an organisation handle the visitor chose to bill
    # Since when no open page of this browser has used the token (monotonic); None while one does.
    unused_since: float | None = None


class SignInTokens:
    """Browser (the digest of its ``byok_browser`` cookie) -> that browser's sign-in token."""

    def __init__(
        self,
        *,
        grace_seconds: float = 60.0,
        capacity: int = 10_000,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._held: OrderedDict[str, _Held] = OrderedDict()
        # Browsers whose sign-in expired or was refused, so the page can say "sign in again".
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._session_owner: dict[str, str] = {}
        self._grace = grace_seconds
        self._capacity = capacity
        self._wall = wall
        self._clock = clock
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def keep(self, owner: str, token: Secret, *, username: str, expires_at: float) -> None:
        with self._lock:
            self._drop(owner)
            self._ended.pop(owner, None)
            self._held[owner] = _Held(token, username, expires_at, unused_since=self._clock())
            while len(self._held) > self._capacity:
                self._drop(next(iter(self._held)))

    def sign_in(self, owner: str, username: str | None, session_hash: str | None) -> HubSignIn:
        """This browser's sign-in as the page sees it; the session that asked now keeps it alive."""
        with self._lock:
            self._sweep()
            held = self._held.get(owner) if owner else None
            if held is not None and self._spent(owner, held):
                held = None
            if held is None or username is None or held.username != username.lower():
                # Signed in as someone else now (or signed out) in Gradio's cookie: not this token.
                return HubSignIn(username=username, ended=owner in self._ended)
            if session_hash and (session_hash in held.sessions or len(held.sessions) < _MAX_PAGES):
                held.sessions.add(session_hash)
                held.unused_since = None
                self._session_owner[session_hash] = owner
            return HubSignIn(token=held.token, username=held.username, bill_to=held.bill_to)

    def bill(self, owner: str, org: str | None) -> bool:
        """Bill ``org`` (None: the visitor's own account) for this browser's chats; False when no
        sign-in is held. Which organisations the visitor may pick is the caller's to check."""
        with self._lock:
            held = self._held.get(owner) if owner else None
            if held is None:
                return False
            held.bill_to = org
            return True

    def refused(self, owner: str) -> None:
        """The provider refused the token (revoked, or expired early): forget it, and say so."""
        with self._lock:
            if owner in self._held:
                self._end(owner)

    def forget(self, owner: str) -> None:
        """Signed out: forget the token, and any note that it ended."""
        with self._lock:
            self._drop(owner)
            self._ended.pop(owner, None)

    def end_session(self, session_hash: str) -> None:
        with self._lock:
            owner = self._session_owner.pop(session_hash, None)
            held = self._held.get(owner) if owner is not None else None
            if held is not None:
                held.sessions.discard(session_hash)
                if not held.sessions:
                    held.unused_since = self._clock()
            self._sweep()

    def __len__(self) -> int:
        with self._lock:
            self._sweep(force=True)
            return len(self._held)

    def _sweep(self, *, force: bool = False) -> None:
        # Bounded by the capacity, but not run on every event: each lookup checks its own entry.
        now = self._clock()
        if not force and now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_SECONDS
        for owner, held in list(self._held.items()):
            self._spent(owner, held)

    def _spent(self, owner: str, held: _Held) -> bool:
        """Drop ``held`` if it expired or no page has used it for the grace period."""
        if held.expires_at <= self._wall():
            self._end(owner)
            return True
        if held.unused_since is not None and self._clock() - held.unused_since >= self._grace:
            self._drop(owner)
            return True
        return False

    def _end(self, owner: str) -> None:
        self._drop(owner)
        self._ended[owner] = None
        while len(self._ended) > self._capacity:
            self._ended.popitem(last=False)

    def _drop(self, owner: str) -> None:
        held = self._held.pop(owner, None)
        if held is not None:
            for session_hash in held.sessions:
                self._session_owner.pop(session_hash, None)


class SignInCustody:
    """Install inside Gradio's session middleware (any ``app_kwargs`` middleware is) and inside the
    boundary, which names the browser. Takes every token out of Gradio's stored login on every
    response, keeps the access token of a login that grants ``inference-api`` (when ``tokens`` is
    given), forgets it on sign-out, and turns a refused, cancelled or failed sign-in into a plain
    return to the page instead of an error page."""

    def __init__(self, app: ASGIApp, tokens: SignInTokens | None = None) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = scope.get("session")
        if scope["type"] != "http" or not isinstance(session, MutableMapping):
            await self.app(scope, receive, send)
            return
        path = app_path(scope)
        owner = str(scope.get("state", {}).get(BROWSER_OWNER_KEY, ""))
        if path == _SIGN_OUT and self.tokens is not None:
            self.tokens.forget(owner)
        if path == _CALLBACK and "error" in parse_qs(scope.get("query_string", b"").decode("latin-1")):
            # The visitor said no on the Hub's page (or the Hub refused): back to the page as it was.
            _forget_attempts(session)
            await _back_to_page(send)
            return
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._take_tokens(session, owner, keep=path == _CALLBACK)
            await send(message)

        try:
            await self.app(scope, receive, sender)
        except Exception as error:
            if path != _CALLBACK or started:
                raise
            # authlib raises for a bad state, a refused code exchange or an unreachable provider;
            # the visitor gets the page back, signed out, and the log gets the kind of failure only.
            log.warning("Hugging Face sign-in failed (%s); the visitor is back on the page", type(error).__name__)
            _forget_attempts(session)
            session.pop("oauth_info", None)
            await _back_to_page(send)

    def _take_tokens(self, session: MutableMapping[str, Any], owner: str, *, keep: bool) -> None:
        info = session.get("oauth_info")
        if not isinstance(info, dict) or not any(name in info for name in _TOKEN_FIELDS):
            return
        access = info.get("access_token")
        for name in _TOKEN_FIELDS:
            info.pop(name, None)
        if not keep or self.tokens is None or not isinstance(access, str) or not access:
            return
        userinfo = info.get("userinfo")
        username = userinfo.get("preferred_username") if isinstance(userinfo, dict) else None
        expires_at = info.get("expires_at")
        granted = info.get("scope")
        if not owner or not isinstance(username, str) or not isinstance(expires_at, int | float):
            # No browser cookie to bind it to: the sign-in still names the visitor, but no token
            # is kept; the page asks them to sign in again from the app's own page.
            return
        if isinstance(granted, str) and not grants_inference(granted):
            return  # the visitor's token cannot spend; nothing worth keeping
        self.tokens.keep(owner, Secret(access), username=username.lower(), expires_at=float(expires_at))


def _forget_attempts(session: MutableMapping[str, Any]) -> None:
    for key in [k for k in session if isinstance(k, str) and k.startswith(_ATTEMPT_PREFIX)]:
        session.pop(key, None)


async def _back_to_page(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            # Relative to /login/callback, so that it also works under a path prefix.
            "headers": [(b"location", b"../"), (b"content-length", b"0"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
