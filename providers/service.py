"""One chat, start to finish: validate, pick the key, admit against quotas, stream, count.

The UI hands over what the browser sent plus a :class:`Caller` it built from the HTTP request;
everything that decides whether a key may be spent happens here, on the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from .access import AccessGate, TrustedProxies, client_id
from .chat import ChatStream, Reply
from .conversation import ChatInputs, build_request
from .errors import CODE_HEADER, KEY_HEADER, AccessDenied, ByokError
from .keys import Secret, resolve_key
from .quota import Quotas, UsageToday, open_storage, parse_rate_limits
from .registry import Provider
from .settings import Settings

__all__ = ["Caller", "ChatService", "exposure_warning"]

log = logging.getLogger("byok_chat.usage")


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    client: str
    # False when a gate is configured and this caller has not passed it (BYO-exempt visitors).
    may_use_server_keys: bool
    visitor_key: Secret | None = None


class ChatService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = open_storage(settings.rate_limit_storage)
        self.quotas = Quotas(
            self.storage,
            rate_limits=parse_rate_limits(settings.rate_limit),
            daily_tokens=settings.daily_token_limit,
        )
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.gate = (
            AccessGate(
                settings.access_codes,
                storage=self.storage,
                trusted=self.trusted,
                byo_exempt=settings.access_code_byo_exempt,
            )
            if settings.access_codes
            else None
        )

    def may_use_server_keys(self, *, gate_passed: bool, oauth_info: Mapping[str, Any] | None) -> bool:
        code_ok = not self.settings.access_codes or gate_passed
        return code_ok and self._hf_allowed(oauth_info)

    def caller(
        self,
        *,
        peer: str,
        headers: Mapping[str, str],
        gate_passed: bool,
        oauth_info: Mapping[str, Any] | None,
        visitor_key: Secret | None,
    ) -> Caller:
        return Caller(
            client=client_id(peer, headers, self.trusted, username=_hf_username(oauth_info)),
            may_use_server_keys=self.may_use_server_keys(gate_passed=gate_passed, oauth_info=oauth_info),
            visitor_key=visitor_key,
        )

    def _hf_allowed(self, oauth_info: Mapping[str, Any] | None) -> bool:
        users, orgs = self.settings.allowed_hf_users, self.settings.allowed_hf_orgs
        if not users and not orgs:
            return True
        username = _hf_username(oauth_info)
        return username is not None and (username in users or bool(_hf_orgs(oauth_info) & orgs))

    def key_box_needed(self, provider: Provider, *, may_use_server_keys: bool) -> bool:
        if not provider.needs_key:
            return False
        return not may_use_server_keys or self.settings.needs_visitor_key(provider)

    def usage_today(self, client: str) -> UsageToday:
        return self.quotas.usage_today(client)

    async def reply(self, caller: Caller, inputs: ChatInputs, *, effort: str = "default") -> AsyncIterator[Reply]:
        """The reply as it grows, its reasoning included; the last update carries the stats."""
        request = build_request(self.settings, inputs)
        provider = request.provider
        key = self._key_for(provider, caller)
        on_server_key = key is not None and key is self.settings.server_key(provider.id)
        if on_server_key:
            self.quotas.admit(caller.client)
        stream = ChatStream(
            request,
            key=key,
            timeout=self.settings.request_timeout,
            max_retries=self.settings.max_retries,
            max_seconds=self.settings.max_reply_seconds,
            effort=effort,
        )
        outcome = "ok"
        try:
            async for reply in stream.replies():
                yield reply
        except ByokError as error:
            outcome = type(error).__name__
            raise
        except BaseException:
            outcome = "stopped"  # the visitor pressed Stop or closed the tab
            raise
        finally:
            self._count(caller, request.provider, request.model, stream, on_server_key, outcome)

    def _key_for(self, provider: Provider, caller: Caller) -> Secret | None:
        if caller.may_use_server_keys or caller.visitor_key is not None:
            return resolve_key(provider, self.settings, visitor_key=caller.visitor_key)
        if self.settings.server_key(provider.id) is not None:
            needs = f"{provider.label} runs on the operator's key, which needs the access code."
            raise AccessDenied(
                f"{needs} Enter the code (open byok/access on this site), or enter your own {provider.label} key.",
                script_message=f"{needs} Send it in the {CODE_HEADER} header, or send your own "
                f"{provider.label} key in the {KEY_HEADER} header.",
            )
        return resolve_key(provider, self.settings, visitor_key=None)

    def _count(
        self, caller: Caller, provider: Provider, model: str, stream: ChatStream, on_server_key: bool, outcome: str
    ) -> None:
        usage = stream.usage
        tokens = usage.total_tokens if usage else 0
        if on_server_key:
            self.quotas.charge(caller.client, tokens)
        self.quotas.record(caller.client, provider.id, tokens)
        # One line per chat: who, where, how much. Never a key, never message text.
        log.info(
            "chat client=%s provider=%s model=%s key=%s outcome=%s prompt_tokens=%s completion_tokens=%s%s",
            caller.client,
            provider.id,
            model,
            "server" if on_server_key else "visitor" if caller.visitor_key else "none",
            outcome,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            " (estimated)" if usage and usage.estimated else "",
        )


def _userinfo(oauth_info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    info = (oauth_info or {}).get("userinfo")
    return info if isinstance(info, Mapping) else {}


def _hf_username(oauth_info: Mapping[str, Any] | None) -> str | None:
    name = _userinfo(oauth_info).get("preferred_username")
    return name.lower() if isinstance(name, str) and name else None


def _hf_orgs(oauth_info: Mapping[str, Any] | None) -> set[str]:
    # Hugging Face's OpenID userinfo lists the user's organisations under "orgs".
    orgs = _userinfo(oauth_info).get("orgs")
    if not isinstance(orgs, list):
        return set()
    names = (org.get("preferred_username") or org.get("name") for org in orgs if isinstance(org, Mapping))
    return {name.lower() for name in names if isinstance(name, str)}


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def exposure_warning(settings: Settings, *, host: str, share: bool) -> str | None:
    """A warning when strangers could spend the server's keys: keys set, no gate, reachable."""
    if not settings.server_keys or settings.gated:
        return None
    if host in _LOCAL_HOSTS and not share:
        return None
    where = "through a public share link" if share else f"on {host}"
    names = ", ".join(sorted(p.key_env or p.id for p in settings.providers if p.id in settings.server_keys))
    return (
        f"Server keys ({names}) are usable by anyone who can open this app {where}, limited only by "
        f"RATE_LIMIT ({settings.rate_limit or 'off'}) and DAILY_TOKEN_LIMIT "
        f"({settings.daily_token_limit or 'off'}). Set ACCESS_CODE or ALLOWED_HF_USERS to restrict it."
    )
