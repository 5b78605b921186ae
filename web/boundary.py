"""The browser boundary: which browser owns a session, which origins may talk to the app, and what
a page may load.

Gradio trusts things a browser attacker controls:

- Session binding, file ownership and request bodies are checked behind the access gate, in
  :mod:`web.sessions`; this middleware, outside the gate, names the browser (a digest of the
  server-issued, HttpOnly ``byok_browser`` cookie) for them.
- Gradio answers any ``Origin`` with credentialed CORS on a non-loopback host. Requests from another
  origin, or marked ``Sec-Fetch-Site: cross-site``/``same-site``, are refused here, except page
  navigations (framing is governed by ``frame-ancestors``) and the operator's ``ALLOWED_ORIGINS``.
- Replies are rendered as HTML and markdown; a Content-Security-Policy keeps the page from fetching
  anything but the app itself, so a reply cannot make the browser call out.
Nothing here imports Gradio: the middleware is plain ASGI and runs in front of every route.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from config.network import TrustedProxies, is_loopback_host, normalise_origin

from .asgi import ASGIApp, Message, Receive, Scope, Send, app_path, peer_and_headers
from .sessions import BROWSER_OWNER_KEY, refuse

__all__ = [
    "BROWSER_COOKIE",
    "BoundaryMiddleware",
    "BoundaryPolicy",
    "content_security_policy",
]

log = logging.getLogger("byok_chat.boundary")

BROWSER_COOKIE = "byok_browser"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32,64}")
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
# Hugging Face sign-in starts here. Inside the Hub's frame it opens in a tab of its own, where the
# browser may not have our cookie yet: the redirect to the Hub gives it one, so the callback can
# bind the sign-in to this browser (web/signin.py).
_SIGN_IN_ROUTE = "/login/huggingface"
_TWO_COOKIES = "This browser holds two copies of the app's cookie. Clear this site's cookies and reload."
_UNKNOWN_HOST = "This app does not answer to this host name. Its operator can add the name to ALLOWED_HOSTS."
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
    # Host names the app answers to besides loopback names, IP addresses and the Space's host.
    allowed_hosts: frozenset[str] = frozenset()

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

    def host_allowed(self, scope: Scope, headers: Mapping[str, str]) -> bool:
        """Is the host the browser asked for one this app answers to? A name is refused unless the
        operator named it: any site can point its own name at this server's address (DNS
        rebinding), and its pages would then be same-origin with the app. An address cannot be
        rebound, and loopback names never leave the machine."""
        if "*" in self.allowed_hosts:
            return True
        origin = self.own_origin(scope, headers)
        name = urlsplit(origin).hostname if origin else None
        if not name:
            return False
        return is_loopback_host(name) or _is_address(name) or name in (self.space_host, *self.allowed_hosts)

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
        if self.secure_cookies(scope, headers):
            return "Path=/; HttpOnly; Secure; SameSite=None; Partitioned"
        return "Path=/; HttpOnly; SameSite=Lax"

    def secure_cookies(self, scope: Scope, headers: Mapping[str, str]) -> bool:
        origin = self.own_origin(scope, headers) or ""
        return origin.startswith("https://") or is_loopback_host(urlsplit(origin).netloc)

    def browser_cookie_name(self, scope: Scope, headers: Mapping[str, str]) -> str:
        """``__Host-byok_browser`` wherever the cookie can be Secure: a sibling subdomain cannot
        set a cookie of that name, so it cannot plant a browser identity of its choosing."""
        return f"__Host-{BROWSER_COOKIE}" if self.secure_cookies(scope, headers) else BROWSER_COOKIE


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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


def cookie_values(header: str, name: str) -> list[str]:
    """Every value the Cookie header gives ``name``: a browser sends one per cookie it holds, so
    two mean that someone else set one."""
    pairs = (part.strip().partition("=") for part in header.split(";"))
    return [value.strip() for key, _, value in pairs if key.strip() == name]


def browser_id(values: list[str]) -> str | None:
    """The browser cookie's value, if there is exactly one and it has the shape we issue."""
    return values[0] if len(values) == 1 and _COOKIE_VALUE.fullmatch(values[0]) else None


def _owner(cookie: str | None) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else ""


class BoundaryMiddleware:
    """Install with ``Middleware(BoundaryMiddleware, policy=...)``, outside the gate."""

    def __init__(self, app: ASGIApp, policy: BoundaryPolicy) -> None:
        self.app = app
        self.policy = policy
        self.csp = content_security_policy(policy.frame_ancestors).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        _, headers = peer_and_headers(scope)
        if not self.policy.host_allowed(scope, headers):
            log.warning("refused a request for a host name this app does not answer to")
            await refuse(scope, send, 400, _UNKNOWN_HOST, plain=True)
            return
        path = app_path(scope)
        refusal = self._refusal(scope, headers, path)
        if refusal:
            await refuse(scope, send, 404 if refusal == "unused route" else 403, refusal)
            return
        values = cookie_values(headers.get("cookie", ""), self.policy.browser_cookie_name(scope, headers))
        if len(values) > 1:
            log.warning("refused a request carrying two browser cookies")
            await refuse(scope, send, 400, _TWO_COOKIES, plain=True)
            return
        cookie = browser_id(values)
        if cookie is None and path == _SIGN_IN_ROUTE:
            cookie = secrets.token_urlsafe(24)
            scope.setdefault("state", {})[BROWSER_OWNER_KEY] = _owner(cookie)
            await self.app(scope, receive, self._sender(scope, headers, send, new_cookie=cookie))
            return
        scope.setdefault("state", {})[BROWSER_OWNER_KEY] = _owner(cookie)
        await self.app(scope, receive, self._sender(scope, headers, send, issue_cookie=cookie is None))

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

    def _sender(
        self, scope: Scope, headers: Mapping[str, str], send: Send, *, issue_cookie: bool = False, new_cookie: str = ""
    ) -> Send:
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
                if new_cookie:
                    out.append((b"set-cookie", self._new_cookie(scope, headers, new_cookie)))
                message["headers"] = out
            await send(message)

        return sender

    def _new_cookie(self, scope: Scope, headers: Mapping[str, str], value: str = "") -> bytes:
        value = value or secrets.token_urlsafe(24)
        name = self.policy.browser_cookie_name(scope, headers)
        return f"{name}={value}; {self.policy.cookie_attributes(scope, headers)}".encode()


# Markdown images and the HTML tags that load a URL by themselves. A reply is shown as markdown
# with HTML; the CSP already stops the fetch, and this turns the image into a plain link so the
# visitor still sees where it pointed.
