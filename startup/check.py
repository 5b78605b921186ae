"""``python app.py --check``: what would run, said plainly, without starting the server.

For a Space's build log, a container's health check or CI: the configuration has already been read
(a malformed value stops start-up before this runs), so this connects to the counter storage and
lists the providers and their modes, the gate, the quotas and the login. It never prints a key, an
access code or a password inside a storage URI.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from genai_prices import __version__ as genai_prices_version

from config.keys import HUB_ROW
from conversation.service import ChatService
from web.hflogin import LoginPlan

from .summary import describe_spend, describe_uploads, exposure_warning

__all__ = ["report"]


def report(service: ChatService, login: LoginPlan, *, host: str, port: int, share: bool) -> tuple[bool, list[str]]:
    """Lines to print, and whether everything needed to serve is in place."""
    settings = service.settings
    ok = True
    lines = [f"byok-chat would listen on {host}:{port}{' with a public share link' if share else ''}."]
    lines.append("Providers:")
    for provider in settings.providers:
        if provider.id in settings.server_keys:
            mode = f"server key from {provider.key_env}"
            if login.hub_sign_in and provider.id == HUB_ROW:
                mode += " (visitors who sign in with Hugging Face pay for themselves)"
        elif login.hub_sign_in and provider.id == HUB_ROW:
            mode = "visitors sign in with Hugging Face and pay for themselves, or bring their own key"
        elif provider.needs_key:
            mode = "visitors bring their own key"
        else:
            mode = "no key needed"
        marker = " (default)" if provider.id == settings.default_provider else ""
        base = provider.base_url or "the URL each visitor types"
        lines.append(f"  {provider.id}{marker}: {mode}; {base}")
    if settings.access_codes:
        exempt = "; visitors without a code may use their own keys" if settings.access_code_byo_exempt else ""
        lines.append(f"Access code: on ({len(settings.access_codes)} code(s)){exempt}")
    else:
        lines.append("Access code: off")
    lines.append(login.note)
    lines.append(f"Rate limit per client on server keys: {settings.rate_limit or 'off'}")
    lines.append(f"Daily tokens per client on server keys: {settings.daily_token_limit or 'off'}")
    lines.extend(_spend_lines(service))
    lines.append(f"Uploads: {describe_uploads(settings)}")
    lines.append(f"Trusted proxies: {settings.trusted_proxies or 'none (X-Forwarded-For is ignored)'}")
    storage = _without_password(settings.rate_limit_storage)
    try:
        reachable = bool(service.storage.check())
    except Exception:  # noqa: BLE001 - any failure to reach it is the same answer for the operator
        reachable = False
    if reachable:
        lines.append(f"Counter storage: {storage} (connected)")
    else:
        ok = False
        lines.append(f"Counter storage: {storage} (NOT reachable: quotas and usage cannot be counted)")
    warning = exposure_warning(settings, host=host, share=share)
    if warning:
        lines.append(f"Warning: {warning}")
    lines.append("Check passed." if ok else "Check FAILED.")
    return ok, lines


def _spend_lines(service: ChatService) -> list[str]:
    """The spend limits, where prices come from, and the server-key models nobody priced (refused
    while a spend limit is set)."""
    settings = service.settings
    own = f" and MODEL_PRICES ({len(settings.model_prices)} entries)" if settings.model_prices else ""
    lines = [
        f"Spend limits on server keys (US dollars, UTC days): {describe_spend(settings)}",
        f"Prices: genai-prices {genai_prices_version} (bundled, read offline){own}",
    ]
    unpriced = [
        f"{provider.id}:{model}"
        for provider in settings.providers
        if provider.id in settings.server_keys
        for model in settings.restricted_models(provider) or provider.models
        if not service.prices.known(provider, model)
    ]
    if unpriced:
        effect = "refused on the server key" if service.spend.limited else "shown without a cost"
        lines.append(f"Models without a price ({effect}; price them with MODEL_PRICES): {', '.join(unpriced)}")
    return lines


def _without_password(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    netloc = f"****@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
