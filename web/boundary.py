"""The browser boundary: which browser owns a session, which origins may talk to the app, and what
a page may load.

Gradio trusts things a browser attacker controls:

- The session hash is made in the browser and travels in URLs (``queue/data?session_hash=``,
  ``heartbeat/<hash>``); any client that knows it can run events in that session, where a
  visitor's key lives. :class:`SessionBindings` ties each hash to the server-issued, HttpOnly
  ``byok_browser`` cookie of the browser that first used it; any other cookie, or none, is refused.
  A session used without a cookie (a script) is bound to "no cookie" and never holds a key.
- Gradio answers any ``Origin`` with credentialed CORS on a non-loopback host. Requests from another
  origin, or marked ``Sec-Fetch-Site: cross-site``/``same-site``, are refused here, except page
  navigations (framing is governed by ``frame-ancestors``) and the operator's ``ALLOWED_ORIGINS``.
- Replies are rendered as HTML and markdown; a Content-Security-Policy keeps the page from fetching
  anything but the app itself, so a reply cannot make the browser call out.
- Uploads (when the chat takes files) are accepted only from a browser holding the cookie, within
  its client address's ``UPLOAD_LIMIT_MB`` (cookies are free, so the budget follows the address),
  and recorded as that browser's in an :class:`~web.uploads.UploadLedger`. A file path in any
  request, and every ``/gradio_api/file=`` fetch, must be one of the caller's own uploads: Gradio
  itself would accept any path in its shared upload folder, fetch any URL given as a path, and
  serve any cached file to whoever names it. The one exception is the folders of Gradio's own
  page files the operator's page names (its icons, ``BoundaryPolicy.public_dirs``), read-only,
  the same for everyone.

Nothing here imports Gradio: the middleware is plain ASGI and runs in front of every route.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from config.network import TrustedProxies, is_loopback_host, normalise_origin
from errors import CounterUnavailable, TooManyUploads

from .asgi import ASGIApp, Message, Receive, Scope, Send, app_path, client_id, peer_and_headers
from .uploads import UploadLedger, file_paths, is_remote, normalise_path

__all__ = [
    "BOUND_STATE_KEY",
    "BROWSER_COOKIE",
    "BROWSER_OWNER_KEY",
    "BoundaryMiddleware",
    "BoundaryPolicy",
    "SessionBindings",
    "content_security_policy",
]

log = logging.getLogger("byok_chat.boundary")

BROWSER_COOKIE = "byok_browser"
# Set in the request's scope state when its session hash is bound to this browser's cookie: only
# such a session may hold a visitor's key.
BOUND_STATE_KEY = "byok_browser_bound"
# The browser's identity for ownership checks (a digest of its cookie; "" without one).
BROWSER_OWNER_KEY = "byok_browser_owner"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")
# Gradio's per-session routes name the session in the path.
_HASH_IN_PATH = re.compile(r"^/gradio_api/heartbeat/([^/]+)/?$")
# Routes this app never uses. Deep links write a session's component values to disk and serve
# them back; monitoring prints a dashboard URL and serves traffic stats; the rest are features
# (uploads, media streams, proxies, run history, in-browser editing) the app does not offer.
_REFUSED_PREFIXES = (
    "/gradio_api/deep_link",
    "/monitoring",
    "/gradio_api/monitoring",
    "/gradio_api/proxy=",
    "/gradio_api/run-history",
    "/gradio_api/runs",
    "/gradio_api/vibe-",
    "/gradio_api/undo-vibe-edit",
    "/gradio_api/process_recording",
    "/gradio_api/stream/",
)
_UPLOAD_PREFIXES = ("/gradio_api/upload", "/gradio_api/upload_progress")
_FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/")
_NO_UPLOAD_WITHOUT_COOKIE = "Uploads are accepted only from the app's page, in a browser that keeps the app's cookie."
_UPLOADS_PAUSED = "Uploads are paused: the usage counter can't be reached right now. Try again shortly."
_NOT_YOUR_FILE = (
    "This request refers to a file that was not uploaded from this browser. Attach the file again, or start a new chat."
)
# A queue payload carries the visible history; far more than a chat needs, far less than a flood.
_MAX_JSON_BODY = 16 * 1024 * 1024
_NAVIGATION_MODES = frozenset({"navigate", "nested-navigate"})
_FOREIGN_SITES = frozenset({"cross-site", "same-site"})


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundaryPolicy:
    """What the operator allows across the boundary; built from Settings by the app."""

    trusted: TrustedProxies
    # Origins other than the app's own that may call it (an operator's site embedding the app).
    allowed_origins: frozenset[str] = frozenset()
    # Who may show the app in a frame, besides the app itself.
    frame_ancestors: tuple[str, ...] = ()
    # The public host a Hugging Face Space is served on (SPACE_HOST), always https.
    space_host: str | None = None
    uploads: bool = False
    # Folders of files every page may fetch through /gradio_api/file= (Gradio's own icons): plain
    # files shipped with Gradio, nobody's upload.
    public_dirs: tuple[str, ...] = ()
    # The most one upload request may carry (every file at its cap, plus the form's overhead).
    max_upload_request_bytes: int = 0

    def own_origin(self, scope: Scope, headers: Mapping[str, str]) -> str | None:
        """The origin the browser sees, from Host, or the forwarded headers of a trusted proxy."""
        peer = scope.get("client")[0] if scope.get("client") else ""
        host = headers.get("host", "")
        scheme = str(scope.get("scheme", "http"))
        if self.trusted and self.trusted.trusts(peer):
            host = _first(headers.get("x-forwarded-host")) or host
            scheme = _first(headers.get("x-forwarded-proto")) or scheme
        if self.space_host and host.lower() == self.space_host:
            scheme = "https"
        if scheme in ("ws", "wss"):
            scheme = {"ws": "http", "wss": "https"}[scheme]
        return normalise_origin(f"{scheme}://{host}") if host else None

    def origin_allowed(self, origin: str, scope: Scope, headers: Mapping[str, str]) -> bool:
        wanted = normalise_origin(origin)
        return wanted is not None and (wanted == self.own_origin(scope, headers) or wanted in self.allowed_origins)

    def cookie_attributes(self, scope: Scope, headers: Mapping[str, str]) -> str:
        """Cookie attributes that survive the cross-site frame a Space is shown in.

        Chromium keeps a cookie in a cross-site frame only when it is ``Secure; SameSite=None;
        Partitioned``; the origin check, not SameSite, keeps other sites out. It keeps a Secure
        cookie over https and on loopback hosts; plain http on a LAN address cannot hold one, so
        there the cookie is ``SameSite=Lax`` (top-level pages only).
        """
        origin = self.own_origin(scope, headers) or ""
        if origin.startswith("https://") or is_loopback_host(urlsplit(origin).netloc):
            return "Path=/; HttpOnly; Secure; SameSite=None; Partitioned"
        return "Path=/; HttpOnly; SameSite=Lax"


def _first(value: str | None) -> str:
    return value.split(",")[0].strip() if value else ""


def content_security_policy(frame_ancestors: Iterable[str]) -> str:
    # Gradio's page embeds its configuration in inline scripts and styles; everything else,
    # images and media included, comes from the app itself, data: or blob:.
    ancestors = " ".join(["'self'", *frame_ancestors])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "frame-src 'self'",
            "form-action 'self'",
            "base-uri 'self'",
            "object-src 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


class SessionBindings:
    """Session hash -> the browser (cookie digest, or "" for no cookie) that used it first."""

    def __init__(self, *, capacity: int = 100_000, idle_seconds: float = 24 * 3600) -> None:
        self._owners: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._capacity = capacity
        self._idle = idle_seconds
        self._lock = threading.Lock()

    def claim(self, session_hash: str, owner: str) -> bool:
        """True if ``owner`` may use ``session_hash``: it is theirs, or nobody's yet."""
        now = time.monotonic()
        with self._lock:
            held = self._owners.get(session_hash)
            if held is not None and held[0] != owner and now - held[1] < self._idle:
                return False
            self._owners[session_hash] = (owner, now)
            self._owners.move_to_end(session_hash)
            while len(self._owners) > self._capacity:
                self._owners.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._owners)


def browser_id(headers: Mapping[str, str]) -> str | None:
    """The browser cookie's value, if it has the shape we issue."""
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = jar.get(BROWSER_COOKIE)
    return morsel.value if morsel and _COOKIE_VALUE.fullmatch(morsel.value) else None


def _owner(cookie: str | None) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else ""


class BoundaryMiddleware:
    """Install with ``Middleware(BoundaryMiddleware, policy=..., bindings=...)``, outside the gate."""

    def __init__(
        self,
        app: ASGIApp,
        policy: BoundaryPolicy,
        bindings: SessionBindings | None = None,
        uploads: UploadLedger | None = None,
        count_upload: Callable[[str, int], None] | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.bindings = bindings if bindings is not None else SessionBindings()
        # Without a ledger nobody owns any file: every path in a request is refused.
        self.uploads = uploads if uploads is not None else UploadLedger()
        # (client, bytes) -> None, or TooManyUploads / CounterUnavailable: each client's upload budget.
        self.count_upload = count_upload
        self.csp = content_security_policy(policy.frame_ancestors).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer, headers = peer_and_headers(scope)
        path = app_path(scope)
        refusal = self._refusal(scope, headers, path)
        if refusal:
            await _refuse(scope, send, 404 if refusal == "unused route" else 403, refusal)
            return
        cookie = browser_id(headers)
        owner = _owner(cookie)
        scope.setdefault("state", {})[BROWSER_OWNER_KEY] = owner
        if scope["type"] == "http" and path.startswith(_UPLOAD_PREFIXES):
            await self._upload(scope, receive, send, headers, owner, client_id(peer, headers, self.policy.trusted))
            return
        if scope["type"] == "http" and path.startswith(_FILE_PREFIXES):
            wanted = path.split("=", 1)[1] if path.startswith(_FILE_PREFIXES[0]) else path[len(_FILE_PREFIXES[1]) :]
            if is_remote(wanted) or not (self._public(scope, wanted) or self.uploads.owns(owner, wanted)):
                # Not found, rather than forbidden: whether another browser uploaded it is not
                # this browser's business.
                await _refuse(scope, send, 404, "not found")
                return
        session_hashes = list(_hashes_in_url(scope, path))
        if scope["type"] == "http" and scope["method"] == "POST" and path.startswith("/gradio_api/"):
            body = await _read_body(receive, _MAX_JSON_BODY)
            if body is None:
                await _refuse(scope, send, 413, "request too large")
                return
            payload = _json(body)
            session_hashes += _hashes_in_body(payload)
            if any(not self.uploads.owns(owner, p) for p in file_paths(_data_of(payload))):
                log.warning("refused POST %s: a file path that is not this browser's upload", path)
                await _refuse(scope, send, 403, _NOT_YOUR_FILE)
                return
            receive = _replay(body, receive)
        for session_hash in session_hashes:
            if not self.bindings.claim(session_hash, owner):
                where = _HASH_IN_PATH.sub("/gradio_api/heartbeat/...", path)
                log.warning("refused %s %s: the session belongs to another browser", scope.get("method", "WS"), where)
                await _refuse(scope, send, 403, "This session belongs to another browser.")
                return
        scope["state"][BOUND_STATE_KEY] = bool(cookie and session_hashes)
        await self.app(scope, receive, self._sender(scope, headers, send, issue_cookie=cookie is None))

    async def _upload(
        self, scope: Scope, receive: Receive, send: Send, headers: Mapping[str, str], owner: str, client: str
    ) -> None:
        """Only a browser with the cookie may upload, within its client's budget (a cookie costs
        nothing to get, an address does); what it uploads is recorded as its own."""
        if not owner:
            await _refuse(scope, send, 403, _NO_UPLOAD_WITHOUT_COOKIE, plain=True)
            return
        length = headers.get("content-length", "")
        limit = self.policy.max_upload_request_bytes
        if scope["method"] == "POST" and not length.isdigit():
            # Browsers always say how much they send; without it only Gradio's per-file cap
            # (times its 1,000 files a request) would bound what lands on disk.
            await _refuse(scope, send, 411, "An upload must state its Content-Length.", plain=True)
            return
        if limit and length.isdigit() and int(length) > limit:
            await _refuse(scope, send, 413, "The upload is too large.", plain=True)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, self._sender(scope, headers, send, issue_cookie=False))
            return
        if self.count_upload is not None:
            try:
                # Counted as stated, before anything is received or written to disk.
                self.count_upload(client, int(length))
            except TooManyUploads as refused:
                await _refuse(scope, send, 429, str(refused), retry_after=refused.retry_after, plain=True)
                return
            except CounterUnavailable:
                await _refuse(scope, send, 503, _UPLOADS_PAUSED, plain=True)
                return
        status = 0
        chunks: list[bytes] = []

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    paths = _json(b"".join(chunks))
                    if isinstance(paths, list):
                        self.uploads.record(owner, [p for p in paths if isinstance(p, str)])
            await send(message)

        await self.app(scope, receive, self._sender(scope, headers, recording, issue_cookie=False))

    def _public(self, scope: Scope, wanted: str) -> bool:
        if scope["method"] not in ("GET", "HEAD") or not self.policy.public_dirs:
            return False
        path = normalise_path(wanted)
        return any(os.path.commonpath([path, folder]) == folder for folder in self.policy.public_dirs)

    def _refusal(self, scope: Scope, headers: Mapping[str, str], path: str) -> str | None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if path.startswith(_REFUSED_PREFIXES) or "deep_link" in query:
            return "unused route"
        if path.startswith(_UPLOAD_PREFIXES) and not self.policy.uploads:
            return "unused route"
        origin = headers.get("origin")
        site, mode = headers.get("sec-fetch-site", ""), headers.get("sec-fetch-mode", "")
        # Chromium writes "null" for a form posted from a page with no-referrer, and so does a
        # sandboxed frame: only the browser's own Sec-Fetch-Site can vouch for such a request.
        if origin == "null" and site == "same-origin":
            return None
        if origin is not None:
            return None if self.policy.origin_allowed(origin, scope, headers) else "Cross-origin request refused."
        navigation = scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and mode in _NAVIGATION_MODES
        if site in _FOREIGN_SITES and not navigation:
            return "Cross-origin request refused."
        return None

    def _sender(self, scope: Scope, headers: Mapping[str, str], send: Send, *, issue_cookie: bool) -> Send:
        page_request = scope["type"] == "http" and scope["method"] in ("GET", "HEAD")

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-frame-options"]
                if not any(k.lower() == b"referrer-policy" for k, _ in out):
                    out.append((b"referrer-policy", b"no-referrer"))
                out.append((b"x-content-type-options", b"nosniff"))
                content_type = dict(out).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    out.append((b"content-security-policy", self.csp))
                    if issue_cookie and page_request:
                        out.append((b"set-cookie", self._new_cookie(scope, headers)))
                message["headers"] = out
            await send(message)

        return sender

    def _new_cookie(self, scope: Scope, headers: Mapping[str, str]) -> bytes:
        value = secrets.token_urlsafe(24)
        return f"{BROWSER_COOKIE}={value}; {self.policy.cookie_attributes(scope, headers)}".encode()


def _hashes_in_url(scope: Scope, path: str) -> Iterable[str]:
    in_path = _HASH_IN_PATH.match(path)
    if in_path:
        yield in_path.group(1)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    yield from (h for h in query.get("session_hash", []) if h)


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _hashes_in_body(payload: object) -> list[str]:
    value = payload.get("session_hash") if isinstance(payload, dict) else None
    return [value] if isinstance(value, str) and value else []


def _data_of(payload: object) -> object:
    # An event's inputs; the rest of a queue payload (event_data, trigger ids) names no files.
    return payload.get("data") if isinstance(payload, dict) else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(
    scope: Scope, send: Send, status: int, detail: str, *, retry_after: float | None = None, plain: bool = False
) -> None:
    """A refusal as JSON ``{"error": ...}``; ``plain`` for routes whose answer the page shows as it
    is (Gradio's upload widget puts the body of a failed upload in its error toast)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = (detail if plain else json.dumps({"error": detail})).encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8" if plain else b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Markdown images and the HTML tags that load a URL by themselves. A reply is shown as markdown
# with HTML; the CSP already stops the fetch, and this turns the image into a plain link so the
# visitor still sees where it pointed.
