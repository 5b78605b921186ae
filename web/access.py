"""Who is asking, and may they spend the server's keys?

Two pieces, both enforced on the server:

- :func:`~web.asgi.client_id` names a client for quotas and throttling: the logged-in user, else
  the peer address. ``X-Forwarded-For`` is believed only when the peer is a proxy the operator listed in
  ``TRUSTED_PROXIES``; the session hash is chosen by the browser and never names a client.
- :class:`AccessGate` is an ASGI middleware in front of *every* route of the app (page, config,
  queue, run, files, internal events): without a valid access code nothing is served but the gate
  page. We gate in front of Gradio rather than with ``launch(auth=...)`` because Gradio's login
  guards only the routes that declare it, asks for a user name a shared code does not have, and
  gives its check no client address to throttle guessing with.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from limits import RateLimitItem, parse_many
from limits.strategies import MovingWindowRateLimiter

from config.network import TrustedProxies
from config.secret import Secret
from config.storage import CounterStore
from errors import CounterUnavailable
from words import Phrase, pick, say

from .asgi import ASGIApp, Receive, Scope, Send, app_path, client_id, peer_and_headers

__all__ = [
    "ACCESS_HEADER",
    "COOKIE_NAME",
    "GATE_PATH",
    "AccessGate",
    "GateMiddleware",
]

log = logging.getLogger("byok_chat.access")

GATE_PATH = "/byok/access"
LOGOUT_PATH = "/byok/logout"
COOKIE_NAME = "byok_access"
# API clients (gradio_client, scripts) send the code in this header on every request.
ACCESS_HEADER = "x-access-code"
# Failed guesses per client; each tier is a longer pause than the last.
GUESS_LIMITS = "5/minute;20/hour;100/day"
# Gradio's launch() calls this on itself to start the queue; it reveals nothing.
_ALWAYS_OPEN = frozenset({"/gradio_api/startup-events"})
_MAX_FORM_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Verdict:
    granted: bool
    retry_after: float = 0.0
    # The counter store is down: guesses cannot be throttled, so none are checked.
    unavailable: bool = False


class AccessGate:
    """Access codes, the signed cookie that remembers one, and throttled guessing."""

    def __init__(
        self,
        codes: tuple[Secret, ...],
        *,
        counter: CounterStore,
        trusted: TrustedProxies,
        byo_exempt: bool = False,
        cookie_hours: float = 24 * 7,
    ) -> None:
        if not codes:
            raise ValueError("an access gate needs at least one code")
        self._digests = tuple(hashlib.sha256(c.reveal().encode()).digest() for c in codes)
        # Derived from the codes: every replica with the same codes accepts the same cookies,
        # and changing the codes signs everybody out.
        self._cookie_key = hmac.new(b"byok-chat access cookie", b"\0".join(sorted(self._digests)), "sha256").digest()
        self._counter = counter
        self._storage = counter.storage
        self._limiter = MovingWindowRateLimiter(counter.storage)
        self._guess_limits: list[RateLimitItem] = parse_many(GUESS_LIMITS)
        self.trusted = trusted
        self.byo_exempt = byo_exempt
        self.cookie_seconds = int(cookie_hours * 3600)

    def code_matches(self, candidate: str) -> bool:
        digest = hashlib.sha256(candidate.encode("utf-8", "replace")).digest()
        # Compare against every code, without stopping early, in constant time.
        matches = [hmac.compare_digest(digest, known) for known in self._digests]
        return any(matches)

    def try_code(self, client: str, candidate: str) -> Verdict:
        try:
            return self._counter.run(lambda: self._try_code(client, candidate))
        except CounterUnavailable:
            return Verdict(False, unavailable=True)

    def _try_code(self, client: str, candidate: str) -> Verdict:
        wait = self._throttled_for(client)
        if wait:
            return Verdict(False, wait)
        if self.code_matches(candidate):
            return Verdict(True)
        for item in self._guess_limits:
            self._limiter.hit(item, "access-guess", client)
        log.warning("wrong access code from client=%s", client)
        return Verdict(False, self._throttled_for(client))

    def _throttled_for(self, client: str) -> float:
        waits = [
            self._limiter.get_window_stats(item, "access-guess", client).reset_time - time.time()
            for item in self._guess_limits
            if not self._limiter.test(item, "access-guess", client)
        ]
        # At least a second: a lockout that rounds down to zero would still refuse.
        return max(1.0, *waits) if waits else 0.0

    def make_cookie(self) -> str:
        expires = int(time.time()) + self.cookie_seconds
        token = f"{expires}.{secrets.token_urlsafe(12)}"
        return f"{token}.{self._sign(token)}"

    def cookie_valid(self, value: str | None) -> bool:
        return self.cookie_verdict(value).granted

    def cookie_verdict(self, value: str | None) -> Verdict:
        token = self._verified(value)
        if token is None:
            return Verdict(False)
        try:
            revoked = self._counter.run(lambda: self._storage.get(_revoked_key(token)))
        except CounterUnavailable:
            # Cannot tell whether it was signed out: refuse, keep the key safe. The counter store
            # has logged the outage once.
            return Verdict(False, unavailable=True)
        return Verdict(not revoked)

    def revoke(self, value: str | None) -> None:
        """Sign this cookie out on every replica: its id is kept in the shared counter storage."""
        token = self._verified(value)
        if token is not None:
            expires = int(token.split(".", 1)[0])
            with contextlib.suppress(CounterUnavailable):  # the browser's copy is cleared regardless
                self._counter.run(
                    lambda: self._storage.incr(_revoked_key(token), expiry=max(1, expires - int(time.time())))
                )

    def _verified(self, value: str | None) -> str | None:
        """The signed part of a well-formed, unexpired cookie with a good signature."""
        if not value or value.count(".") != 2:
            return None
        token, signature = value.rsplit(".", 1)
        expires_text = token.split(".", 1)[0]
        if not expires_text.isdigit() or int(expires_text) < time.time():
            return None
        return token if hmac.compare_digest(signature, self._sign(token)) else None

    def _sign(self, token: str) -> str:
        return hmac.new(self._cookie_key, token.encode(), "sha256").hexdigest()


def _revoked_key(token: str) -> str:
    return "byok-access-revoked/" + hashlib.sha256(token.encode()).hexdigest()


ACCESS_STATE_KEY = "byok_access_granted"


class GateMiddleware:
    """Install with ``Middleware(GateMiddleware, gate=gate)``; it sees every request first."""

    def __init__(
        self, app: ASGIApp, gate: AccessGate, cookie_attributes: Callable[[Scope, Mapping[str, str]], str]
    ) -> None:
        self.app = app
        self.gate = gate
        # From the browser boundary: attributes that also hold inside a Space's cross-site frame.
        self.cookie_attributes = cookie_attributes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = app_path(scope)
        if scope["type"] == "http" and path == GATE_PATH:
            await self._enter_code(scope, receive, send)
            return
        if scope["type"] == "http" and path == LOGOUT_PATH:
            await self._log_out(scope, send)
            return
        verdict = self._check(scope)
        scope.setdefault("state", {})[ACCESS_STATE_KEY] = verdict.granted
        if verdict.granted or self.gate.byo_exempt or path in _ALWAYS_OPEN:
            await self.app(scope, receive, send)
            return
        await _refuse(scope, receive, send, verdict)

    def _check(self, scope: Scope) -> Verdict:
        peer, headers = peer_and_headers(scope)
        from_cookie = self.gate.cookie_verdict(_cookie(headers, COOKIE_NAME))
        if from_cookie.granted:
            return from_cookie
        candidate = headers.get(ACCESS_HEADER)
        if not candidate:
            return from_cookie  # refused, or "cannot check right now" during a counter outage
        return self.gate.try_code(client_id(peer, headers, self.gate.trusted), candidate)

    async def _log_out(self, scope: Scope, send: Send) -> None:
        """Only a POST logs out: an image in a reply, or a link from another site, fetches the
        page with a GET and must not sign the visitor out. Another site's POST never gets here:
        the browser boundary refuses requests from other origins."""
        if scope["method"] != "POST":
            await _send_html(send, 200, _logout_page(scope))
            return
        _, headers = peer_and_headers(scope)
        self.gate.revoke(_cookie(headers, COOKIE_NAME))
        await self._redirect(send, scope, "", max_age=0)

    async def _redirect(self, send: Send, scope: Scope, cookie: str, *, max_age: int) -> None:
        _, headers = peer_and_headers(scope)
        attributes = f"{COOKIE_NAME}={cookie}; Max-Age={max_age}; {self.cookie_attributes(scope, headers)}"
        location = [(b"location", b"../"), (b"cache-control", b"no-store"), (b"set-cookie", attributes.encode())]
        await send({"type": "http.response.start", "status": 303, "headers": location})
        await send({"type": "http.response.body", "body": b""})

    async def _enter_code(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _send_html(send, 200, _gate_page(scope, None))
            return
        body = await _read_body(receive, _MAX_FORM_BYTES)
        candidate = (parse_qs(body.decode("utf-8", "replace")).get("code") or [""])[0]
        peer, headers = peer_and_headers(scope)
        verdict = self.gate.try_code(client_id(peer, headers, self.gate.trusted), candidate)
        if verdict.granted:
            await self._redirect(send, scope, self.gate.make_cookie(), max_age=self.gate.cookie_seconds)
        elif verdict.unavailable:
            await _send_html(send, 503, _gate_page(scope, _UNAVAILABLE), retry_after=_UNAVAILABLE_RETRY)
        elif verdict.retry_after:
            page = _gate_page(scope, _too_many(verdict.retry_after))
            await _send_html(send, 429, page, retry_after=verdict.retry_after)
        else:
            await _send_html(send, 401, _gate_page(scope, Phrase("gate_wrong_code")))


def _cookie(headers: Mapping[str, str], name: str) -> str | None:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header is just "no cookie"
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > limit:
            return b""
    return body


def _too_many(retry_after: float) -> Phrase:
    return Phrase("gate_too_many", {"seconds": max(1, round(retry_after))})


# Codes cannot be checked without counting wrong guesses; cookies already given still work.
_UNAVAILABLE = Phrase("gate_unavailable")
_UNAVAILABLE_RETRY = 5.0


async def _refuse(scope: Scope, receive: Receive, send: Send, verdict: Verdict) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    if verdict.unavailable:
        status, retry_after, detail = 503, _UNAVAILABLE_RETRY, _UNAVAILABLE
    elif verdict.retry_after:
        status, retry_after, detail = 429, verdict.retry_after, _too_many(verdict.retry_after)
    else:
        status, retry_after, detail = 401, 0.0, None
    _, headers = peer_and_headers(scope)
    if scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
        await _send_html(send, status, _gate_page(scope, detail), retry_after=retry_after)
        return
    # Scripts read English unless they send Accept-Language.
    payload = json.dumps({"error": (detail or Phrase("gate_code_required")).in_language(_language(scope))}).encode()
    await _send(send, status, payload, "application/json", retry_after=retry_after)


async def _send_html(send: Send, status: int, page: str, *, retry_after: float = 0.0) -> None:
    await _send(send, status, page.encode(), "text/html; charset=utf-8", retry_after=retry_after)


async def _send(send: Send, status: int, body: bytes, content_type: str, *, retry_after: float = 0.0) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        # The gate form's POST must carry the page's origin (with no-referrer, Chromium sends
        # "Origin: null"), and same-origin still tells other sites nothing.
        (b"referrer-policy", b"same-origin"),
    ]
    if retry_after:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _gate_action(scope: Scope) -> str:
    # Relative to whichever page shows the form (the app's root, /byok/access after a wrong code,
    # any deeper path), so it also works under a root path or a proxy's prefix.
    return "../" * max(0, app_path(scope).count("/") - 1) + GATE_PATH.lstrip("/")


def _language(scope: Scope) -> str:
    """The gate is served before Gradio: it follows the browser's Accept-Language like the page."""
    _, headers = peer_and_headers(scope)
    return pick(headers.get("accept-language"))


def _logout_page(scope: Scope) -> str:
    language = _language(scope)
    words = {key: html.escape(say(language, key)) for key in ("gate_sign_out_title", "gate_forget", "page_sign_out")}
    return f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>byok-chat: {words["gate_sign_out_title"]}</title>
<style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0}}</style>
</head><body><form method="post"><p>{words["gate_forget"]}</p>
<button type="submit" id="logout-submit">{words["page_sign_out"]}</button></form></body></html>"""


def _gate_page(scope: Scope, message: Phrase | None) -> str:
    language = _language(scope)
    words = {key: html.escape(say(language, key)) for key in ("gate_title", "gate_intro", "gate_code", "gate_enter")}
    notice = f'<p class="notice" role="alert">{html.escape(message.in_language(language))}</p>' if message else ""
    return f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>byok-chat: {words["gate_title"]}</title>
<style>
body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f6f7f9}}
form{{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px #0002;max-width:22rem;width:90%}}
input,button{{font-size:1rem;padding:.6rem;width:100%;box-sizing:border-box;margin-top:.6rem}}
button{{background:#ea580c;color:#fff;border:0;border-radius:6px;cursor:pointer}}
.notice{{color:#b91c1c}}
</style></head>
<body><form method="post" action="{html.escape(_gate_action(scope))}" id="access-form">
<h1>byok-chat</h1><p>{words["gate_intro"]}</p>
{notice}
<input type="password" name="code" id="access-code" autocomplete="off" autofocus required
 aria-label="{words["gate_code"]}" placeholder="{words["gate_code"]}">
<button type="submit" id="access-submit">{words["gate_enter"]}</button>
</form></body></html>"""
