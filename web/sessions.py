"""Behind the access gate: which browser owns a session, and which files a request may name.

:class:`SessionGuard` runs inside the gate (``web/boundary.py`` runs outside it), so a request
without the access code costs nothing here: no body read, no binding made.

- The session hash is made in the browser and travels in URLs (``queue/data?session_hash=``,
  ``heartbeat/<hash>``); any client that knows it can run events in that session, where a
  visitor's key lives. :class:`SessionBindings` ties each hash to the server-issued, HttpOnly
  browser cookie of the browser that first used it; any other cookie, or none, is refused. A
  session used without a cookie (a script) is bound to "no cookie" and never holds a key. Only the
  routes that use a session hash bind one, only in the shape clients make, and a live binding is
  never dropped to make room: when the table, a browser or an address is full, new ones wait.
- Only the routes that take a JSON body are read, within a cap that fits the largest chat the page
  sends, and only a body shaped like what the page sends reaches Gradio (``web/bodies.py``). A
  file path anywhere in it must be exactly one of the caller's own uploads, and a link is refused
  outright. Uploads are accepted only from a browser holding the cookie, within its client
  address's budget, and recorded as that browser's.

Nothing here imports Gradio.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qs, unquote

from config.network import TrustedProxies
from errors import CounterUnavailable, TooManyUploads
from words import pick, say

from .asgi import ASGIApp, Message, Receive, Scope, Send, app_path, client_id, peer_and_headers
from .bindings import Claim, EventOwners, SessionBindings
from .bodies import BodyJudge, BodyLimits, read_body, replay
from .body_shape import INVALID
from .uploads import UploadLedger, file_paths, is_remote

__all__ = ["BOUND_STATE_KEY", "BROWSER_OWNER_KEY", "SessionGuard", "refuse"]

log = logging.getLogger("byok_chat.boundary")

# Set in the request's scope state when its session hash is bound to this browser's cookie: only
# such a session may hold a visitor's key.
BOUND_STATE_KEY = "byok_browser_bound"
# The browser's identity for ownership checks (a digest of its cookie; "" without one).
BROWSER_OWNER_KEY = "byok_browser_owner"
# The page makes 10-12 characters of [a-z0-9]; gradio_client sends a UUID.
_SESSION_HASH = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HASH_IN_PATH = re.compile(r"^/gradio_api/heartbeat/([^/]+)/?$")
# Routes whose answer names the event they started: {"event_id": ...}, a few dozen bytes.
_JOIN_ROUTES = ("/gradio_api/queue/join", "/gradio_api/call/")
_MAX_JOIN_ANSWER = 4096
# Where a caller reads an event's output by its id alone.
_EVENT_IN_PATH = re.compile(r"^/gradio_api/call/(?:v2/)?[^/]+/([^/]+)/?$")
# Routes that name a session in the query string.
_HASH_IN_QUERY = ("/gradio_api/queue/data",)
# The POST routes of Gradio's that this app answers; their bodies are JSON and may name a session
# and files. Every other POST under /gradio_api/ is refused unread.
_JSON_ROUTES = (
    "/gradio_api/queue/join",
    "/gradio_api/cancel",
    "/gradio_api/reset",
    "/gradio_api/component_server",
    "/gradio_api/run/",
    "/gradio_api/api/",
    "/gradio_api/call/",
)
_UPLOAD_PREFIXES = ("/gradio_api/upload", "/gradio_api/upload_progress")
_FILE_PREFIXES = ("/gradio_api/file=", "/gradio_api/file/")
_NO_UPLOAD_WITHOUT_COOKIE = "Uploads are accepted only from the app's page, in a browser that keeps the app's cookie."
_UPLOADS_FULL = "Uploads are paused: the server holds as many files as it can. Try again later."
# The least of the upload budget one file costs: each one is a folder and a record on the server.
FILE_COST = 100_000


class SessionGuard:
    """Install inside the access gate, with the same bindings and ledger for the whole app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted: TrustedProxies,
        bindings: SessionBindings,
        uploads: UploadLedger,
        limits: BodyLimits,
        max_upload_request_bytes: int = 0,
        max_files_per_request: int = 0,
        count_upload: Callable[[str, int], None] | None = None,
        public_dirs: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.trusted = trusted
        self.bindings = bindings
        self.uploads = uploads
        self.events = EventOwners()
        self.limits = limits
        self.judge = BodyJudge(limits)
        # The most one upload request may carry (every file at its cap, plus the form's overhead).
        self.max_upload_request_bytes = max_upload_request_bytes
        # Gradio's upload route takes up to 1,000 files a request; the page sends one message's.
        self.max_files_per_request = max_files_per_request
        # (client, bytes) -> None, or TooManyUploads / CounterUnavailable: each client's upload budget.
        self.count_upload = count_upload
        # Folders of files every page may fetch through /gradio_api/file= (Gradio's own icons):
        # plain files shipped with Gradio, nobody's upload, read-only and the same for everyone.
        self.public_dirs = public_dirs

    def _public(self, scope: Scope, wanted: str) -> bool:
        if scope["method"] not in ("GET", "HEAD") or not self.public_dirs:
            return False
        path = os.path.normpath(os.path.abspath(unquote(wanted)))
        return any(os.path.commonpath([path, folder]) == folder for folder in self.public_dirs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(send))
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer, headers = peer_and_headers(scope)
        path = app_path(scope)
        owner = scope.setdefault("state", {}).get(BROWSER_OWNER_KEY, "")
        client = client_id(peer, headers, self.trusted)
        if scope["type"] == "http" and path.startswith(_UPLOAD_PREFIXES):
            await self._upload(scope, receive, send, headers, owner, client)
            return
        if scope["type"] == "http" and path.startswith(_FILE_PREFIXES):
            wanted = path.split("=", 1)[1] if path.startswith(_FILE_PREFIXES[0]) else path[len(_FILE_PREFIXES[1]) :]
            if is_remote(wanted) or not (self._public(scope, wanted) or self.uploads.owns(owner, wanted)):
                # Not found, rather than forbidden: whether another browser uploaded it is not
                # this browser's business.
                await refuse(scope, send, 404, "not found")
                return
        event = _EVENT_IN_PATH.match(path)
        reading = scope["type"] == "http" and scope["method"] == "GET"
        if reading and event and not self.events.owned_by(event.group(1), f"{owner}@{client}"):
            await refuse(scope, send, 404, "not found")
            return
        session_hashes = list(_hashes_in_url(scope, path))
        has_body = scope["type"] == "http" and scope["method"] != "GET" and path.startswith("/gradio_api/")
        if has_body:
            checked = await self._body(scope, receive, send, path, owner)
            if checked is None:
                return
            body, hashes = checked
            session_hashes += hashes
            receive = replay(body, receive)
        if not await self._bind(scope, send, path, session_hashes, owner, client):
            return
        scope["state"][BOUND_STATE_KEY] = bool(owner and session_hashes)
        if has_body:
            joins = path.startswith(_JOIN_ROUTES)
            await self._quietly(scope, receive, self._events_of(send, f"{owner}@{client}") if joins else send, path)
        else:
            await self.app(scope, receive, send)

    def _closing(self, send: Send) -> Send:
        """Stop the body worker when the server stops (it would otherwise wait for the process)."""

        async def closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.judge.close()
            await send(message)

        return closing

    def _events_of(self, send: Send, who: str) -> Send:
        """Record the event a join starts as this caller's, from the answer Gradio sends."""
        chunks: list[bytes] = []
        status = 0

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                chunks.append(message.get("body", b"")[:_MAX_JOIN_ANSWER])
                done = not message.get("more_body", False)
                answer = _json(b"".join(chunks)[:_MAX_JOIN_ANSWER]) if done else None
                if isinstance(answer, dict) and isinstance(answer.get("event_id"), str):
                    self.events.record(answer["event_id"], who)
            await send(message)

        return recording

    async def _quietly(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Gradio raises, and its server prints a whole traceback, for a body it cannot map to an
        event (an unknown parameter, a wrong type): a 400 and one line in the log instead."""
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as error:
            if started:
                raise
            # The error's type only: its text may repeat what the caller sent.
            log.warning("refused POST %s: Gradio could not read the request (%s)", path, type(error).__name__)
            await refuse(scope, send, 400, "The request does not match this app's API.")

    async def _body(
        self, scope: Scope, receive: Receive, send: Send, path: str, owner: str
    ) -> tuple[bytes, list[str]] | None:
        """The body of a JSON route, checked; None when the request has been refused."""
        if not path.startswith(_JSON_ROUTES):
            await refuse(scope, send, 404, "unused route")
            return None
        stated = dict(scope.get("headers", [])).get(b"content-length", b"")
        if stated.isdigit() and int(stated) > self.limits.max_bytes:
            await refuse(scope, send, 413, _said(scope, "refused_conversation_too_long"))  # refused unread
            return None
        body = await read_body(receive, self.limits.max_bytes)
        if body is None:
            await refuse(scope, send, 413, _said(scope, "refused_conversation_too_long"))
            return None
        wrong = await self.judge.fault(body) if body.strip() else None
        if wrong == INVALID:
            # What we cannot read, Gradio must not get to read differently.
            await refuse(scope, send, 400, "The request body is not valid JSON.")
            return None
        if wrong is not None:
            log.warning("refused POST %s: its body is out of shape (%s)", path, wrong)
            await refuse(scope, send, 413, _said(scope, "refused_conversation_too_long"))
            return None
        # Within its limits, so parsing it here costs little.
        payload = _json(body)
        named = file_paths(payload)
        if any(is_remote(p) for p in named):
            log.warning("refused POST %s: a link given as a file", path)
            await refuse(scope, send, 403, _said(scope, "refused_link_as_file"))
            return None
        if any(not self.uploads.owns(owner, p) for p in named):
            log.warning("refused POST %s: a file path that is not this browser's upload", path)
            await refuse(scope, send, 403, _said(scope, "refused_not_your_file"))
            return None
        return body, _hashes_in_body(payload)

    async def _bind(
        self, scope: Scope, send: Send, path: str, session_hashes: list[str], owner: str, client: str
    ) -> bool:
        for session_hash in session_hashes:
            if not _SESSION_HASH.fullmatch(session_hash):
                await refuse(scope, send, 400, "The session id is not valid.")
                return False
            claim = self.bindings.claim(session_hash, owner, client)
            if claim is Claim.TAKEN:
                where = _HASH_IN_PATH.sub("/gradio_api/heartbeat/...", path)
                log.warning("refused %s %s: the session belongs to another browser", scope.get("method", "WS"), where)
                await refuse(scope, send, 403, "This session belongs to another browser.")
                return False
            if claim is Claim.FULL:
                log.warning("refused a new session from client=%s: no room for another", client)
                await refuse(scope, send, 429, "Too many open sessions from here. Close some tabs and try again.")
                return False
        return True

    async def _upload(
        self, scope: Scope, receive: Receive, send: Send, headers: Mapping[str, str], owner: str, client: str
    ) -> None:
        """Only a browser with the cookie may upload, within its client's budget (a cookie costs
        nothing to get, an address does); what it uploads is recorded as its own."""
        if not owner:
            await refuse(scope, send, 403, _NO_UPLOAD_WITHOUT_COOKIE, plain=True)
            return
        length = headers.get("content-length", "")
        limit = self.max_upload_request_bytes
        if scope["method"] == "POST" and not length.isdigit():
            # Browsers always say how much they send; without it only Gradio's per-file cap
            # (times its 1,000 files a request) would bound what lands on disk.
            await refuse(scope, send, 411, "An upload must state its Content-Length.", plain=True)
            return
        if limit and length.isdigit() and int(length) > limit:
            await refuse(scope, send, 413, "The upload is too large.", plain=True)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.uploads.full:
            await refuse(scope, send, 503, _UPLOADS_FULL, plain=True)
            return
        # Counted as stated (and as one file at least), before anything is received or written.
        stated = max(int(length), FILE_COST)
        if not await self._charge(scope, send, client, stated):
            return
        # Held here, never on disk, until its files are counted: the budget already covers it.
        body = await read_body(receive, int(length))
        files = _multipart_parts(headers.get("content-type", ""), body or b"")
        if body is None or files is None:
            await refuse(scope, send, 400, "The upload is not a valid form.", plain=True)
            return
        if files > self.max_files_per_request:
            await refuse(scope, send, 413, f"Attach at most {self.max_files_per_request} files at once.", plain=True)
            return
        # A file costs at least FILE_COST of the budget, however small: each is a folder on disk.
        if not await self._charge(scope, send, client, files * FILE_COST - stated):
            return
        receive = replay(body, receive)
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

        await self.app(scope, receive, recording)

    async def _charge(self, scope: Scope, send: Send, client: str, size: int) -> bool:
        """Spend ``size`` bytes of the client's upload budget; False when it has been refused."""
        if self.count_upload is None or size <= 0:
            return True
        try:
            self.count_upload(client, size)
        except TooManyUploads as refused:
            await refuse(scope, send, 429, refused.text(_language(scope)), retry_after=refused.retry_after, plain=True)
            return False
        except CounterUnavailable:
            await refuse(scope, send, 503, _said(scope, "refused_uploads_paused"), plain=True)
            return False
        return True


def _language(scope: Scope) -> str:
    """Refusals a visitor may read (an upload toast, a chat's error) follow the browser's language."""
    return pick(peer_and_headers(scope)[1].get("accept-language"))


def _said(scope: Scope, key: str) -> str:
    return say(_language(scope), key)


def _multipart_parts(content_type: str, body: bytes) -> int | None:
    """How many parts a multipart form holds, or None when it is not one."""
    match = re.search(r'boundary="?([^";]{1,200})"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        return None
    delimiter = b"--" + match.group(1).encode("latin-1")
    # Every part opens with the delimiter, and the form closes with it once more.
    return max(0, body.count(delimiter) - 1)


def _hashes_in_url(scope: Scope, path: str) -> Iterable[str]:
    in_path = _HASH_IN_PATH.match(path)
    if in_path:
        yield in_path.group(1)
    if path.startswith(_HASH_IN_QUERY):
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


async def refuse(
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
