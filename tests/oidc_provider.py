"""A small OpenID Connect provider on loopback, shaped like the Hugging Face Hub's, for login tests.

Gradio's Space login (authlib's Starlette client) reads ``OPENID_PROVIDER_URL`` +
``/.well-known/openid-configuration``, sends the browser to the authorization endpoint, swaps the
code for tokens at the token endpoint (client id and secret in HTTP Basic), checks the RS256 ID
token against the JWKS and stores its claims as ``userinfo``. The claims carry what the Hub's
userinfo carries: ``preferred_username`` and ``orgs``, a list of organisations each with
``preferred_username`` (the handle) and ``name`` (the display name), per
https://huggingface.co/docs/huggingface.js/hub/interfaces/UserInfo

The sign-in page asks for a user name, so a browser test logs in the way a person would, or
cancels as a person would (the Hub then sends ``error=access_denied`` back to the app). The ID
token is signed with joserfc, the JOSE library authlib itself verifies with. Every access token
issued is recorded, so a test can look for it wherever it must never be; it is granted the scopes
the Space asks for (``scopes``, which a Space puts in ``OAUTH_SCOPES``) and lasts the user's
``token_seconds``.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


@dataclass
class HubUser:
    username: str
    orgs: tuple[tuple[str, str], ...] = ()  # (handle, display name)
    token_seconds: int = 3600  # how long this user's access tokens last

    def claims(self) -> dict[str, Any]:
        return {
            "sub": f"id-{self.username}",
            "name": self.username.title(),
            "preferred_username": self.username,
            "profile": f"https://huggingface.co/{self.username}",
            "picture": "",
            "isPro": False,
            "orgs": [
                {
                    "sub": f"org-{handle}",
                    "name": display,
                    "preferred_username": handle,
                    "picture": "",
                    "isEnterprise": False,
                }
                for handle, display in self.orgs
            ],
        }


@dataclass
class _Grant:
    user: HubUser
    client_id: str
    redirect_uri: str
    nonce: str | None


@dataclass
class OpenIDProvider:
    users: dict[str, HubUser]
    client_id: str = "byok-test-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # What the Space's front matter asks for (hf_oauth_scopes), as the Space reports it.
    scopes: str = "openid profile"
    # Every access token handed out, in order.
    issued: list[str] = field(default_factory=list)
    # Every request the app's server made to the token endpoint, and every browser visit.
    token_requests: int = 0
    authorize_requests: int = 0

    def __post_init__(self) -> None:
        self._key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OpenIDProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def space_environment(self) -> dict[str, str]:
        """The variables a Space with `hf_oauth: true` gets."""
        return {
            "OAUTH_CLIENT_ID": self.client_id,
            "OAUTH_CLIENT_SECRET": self.client_secret,
            "OAUTH_SCOPES": self.scopes,
            "OPENID_PROVIDER_URL": self.url,
        }

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/oauth/authorize",
            "token_endpoint": f"{self.url}/oauth/token",
            "userinfo_endpoint": f"{self.url}/oauth/userinfo",
            "jwks_uri": f"{self.url}/oauth/jwks",
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "profile", "inference-api"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def _issue_code(self, grant: _Grant) -> str:
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = grant
        return code

    def _redeem(self, code: str) -> _Grant | None:
        with self._lock:
            return self._codes.pop(code, None)

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims = {**grant.user.claims(), "iss": self.url, "aud": grant.client_id, "iat": now, "exp": now + 3600}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self._key)

    def _jwks(self) -> dict[str, Any]:
        return KeySet([self._key]).as_dict(private=False)


_SIGN_IN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Sign in - test hub</title></head>
<body><h1>Sign in to the test hub</h1><p>{client} wants to know who you are.</p>
<form method="post" action="/oauth/approve">{hidden}
<label>User name <input name="username" id="username" autocomplete="off"></label>
<button type="submit" id="approve">Authorize</button>
<button type="submit" id="deny" name="deny" value="1">Cancel</button></form></body></html>"""


def _handler(provider: OpenIDProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, provider.metadata())
            elif parts.path == "/oauth/jwks":
                self._json(200, provider._jwks())
            elif parts.path == "/oauth/authorize":
                provider.authorize_requests += 1
                if query.get("client_id") != provider.client_id or query.get("response_type") != "code":
                    self._json(400, {"error": "invalid_request"})
                    return
                keep = ("client_id", "redirect_uri", "state", "nonce")
                hidden = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(query.get(k, ""))}">' for k in keep
                )
                self._html(200, _SIGN_IN_PAGE.format(client=html.escape(provider.client_id), hidden=hidden))
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            path = urlsplit(self.path).path
            if path == "/oauth/approve":
                self._approve(form)
            elif path == "/oauth/token":
                self._token(form)
            else:
                self._json(404, {"error": "not_found"})

        def _approve(self, form: dict[str, str]) -> None:
            if form.get("deny"):
                # What the Hub does when the visitor refuses: back to the app with an error.
                self._redirect(form, {"error": "access_denied", "state": form.get("state", "")})
                return
            user = provider.users.get(form.get("username", "").strip().lower())
            if user is None:
                self._html(401, "<p id='unknown'>No such user.</p>")
                return
            code = provider._issue_code(
                _Grant(user, form.get("client_id", ""), form.get("redirect_uri", ""), form.get("nonce") or None)
            )
            self._redirect(form, {"code": code, "state": form.get("state", "")})

        def _redirect(self, form: dict[str, str], query: dict[str, str]) -> None:
            sep = "&" if "?" in form["redirect_uri"] else "?"
            target = form["redirect_uri"] + sep + urlencode(query)
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _token(self, form: dict[str, str]) -> None:
            provider.token_requests += 1
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            auth = self.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            if client_id != provider.client_id or client_secret != provider.client_secret:
                self._json(401, {"error": "invalid_client"})
                return
            grant = provider._redeem(form.get("code", ""))
            if grant is None or grant.redirect_uri != form.get("redirect_uri") or grant.client_id != client_id:
                self._json(400, {"error": "invalid_grant"})
                return
            token = "hf_oauth_" + secrets.token_urlsafe(16)
            provider.issued.append(token)
            self._json(
                200,
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": grant.user.token_seconds,
                    "scope": provider.scopes,
                    "id_token": provider._id_token(grant),
                },
            )

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _html(self, status: int, page: str) -> None:
            self._send(status, page.encode(), "text/html; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return Handler
