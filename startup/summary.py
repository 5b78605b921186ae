"""What the operator reads at start-up: one summary line, the exposure warning, and the
words for the client identity and the upload budget (also used by ``--check``)."""

from __future__ import annotations

from config.settings import Settings
from config.storage import describe_storage, parse_rate_limits
from web.quota import describe_limit

__all__ = ["client_identity", "describe_spend", "describe_uploads", "exposure_warning", "startup_summary"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})


def _server_key_names(settings: Settings) -> str:
    return ", ".join(sorted(p.key_env or p.id for p in settings.providers if p.id in settings.server_keys))


def _spend_names(settings: Settings) -> str:
    """The server keys, then the operator's keyless servers (by the base URL variable set)."""
    servers = sorted(p.base_url_env for p in settings.providers if p.id in settings.operator_servers)
    return ", ".join(filter(None, [_server_key_names(settings), *servers]))


def exposure_warning(
    settings: Settings, *, host: str, port: int | None = None, share_url: str | None = None, share: bool = False
) -> str | None:
    """A warning when strangers could spend the server's keys: keys set, no gate, reachable.

    It names what is actually reachable: the share link that was made (not one that was asked for
    and failed), this Space, or the address the server listens on.
    """
    if not (settings.server_keys or settings.operator_servers) or settings.gated:
        return None
    if host in _LOCAL_HOSTS and not share_url and not share:
        return None
    at_port = f" port {port}" if port else ""
    if share_url:
        where = f"through the public share link {share_url}"
    elif share:  # before launch (--check): a link is asked for and may be made
        where = "through the public share link, if one is made"
    elif settings.on_space:
        where = "who can open this Space"
    elif host in _ALL_INTERFACES:
        where = f"who can reach this machine on any of its network addresses,{at_port or ' on its port'}"
    else:
        where = f"who can reach {host}{':' + str(port) if port else ''}"
    return (
        f"Server keys and servers ({_spend_names(settings)}) can be spent by anyone {where}, limited only by "
        f"RATE_LIMIT ({settings.rate_limit or 'off'}) and DAILY_TOKEN_LIMIT "
        f"({settings.daily_token_limit or 'off'}) per client and the spend limits ({describe_spend(settings)}). "
        f"Set ACCESS_CODE or ALLOWED_HF_USERS to restrict it, or DAILY_SPEND_LIMIT and SPEND_LIMIT to cap the bill."
    )


def client_identity(settings: Settings) -> str:
    """How a client is told apart for quotas and the access-code throttle, in words."""
    spec = settings.trusted_proxies
    if settings.on_space and not settings.trusted_proxies_set:
        address = "X-Forwarded-For from the Space proxy"
    elif spec == "*":
        address = "X-Forwarded-For from the one proxy in front (TRUSTED_PROXIES=*)"
    elif spec:
        address = f"X-Forwarded-For from proxies in TRUSTED_PROXIES ({spec})"
    elif settings.on_space:
        address = "connection address (TRUSTED_PROXIES is empty, so every Space visitor is one client)"
    else:
        address = "connection address"
    if settings.allowed_hf_users or settings.allowed_hf_orgs:
        return f"Hugging Face user, else {address}"
    return address


def describe_uploads(settings: Settings) -> str:
    """The upload budget in words: "200 MB per hour, 1,000 MB per day per client", "no limit" or "off"."""
    if not settings.max_files_per_message:
        return "off"
    limits = ", ".join(describe_limit(item, " MB") for item in parse_rate_limits(settings.upload_limit_mb))
    return f"{limits} per client" if limits else "no limit"


def describe_spend(settings: Settings) -> str:
    """The spend limits in words: "$0.25 per day per client; $5.00 per day for everyone", or "off"."""
    parts = [f"${settings.daily_spend_limit:,.2f} per day per client"] if settings.daily_spend_limit else []
    if settings.spend_limit:
        parts.append(f"{', '.join(str(w) for w in settings.spend_limit)} for everyone")
    return "; ".join(parts) or "off"


def startup_summary(settings: Settings) -> str:
    """One line: which providers run on server keys, the quotas, the gate and the client identity."""
    keys = _server_key_names(settings) or "none (visitors bring their own)"
    limits = [settings.rate_limit] if settings.rate_limit else []
    if settings.daily_token_limit:
        limits.append(f"{settings.daily_token_limit:,} tokens/day")
    quotas = f"{'; '.join(limits)} per client on server keys" if limits else "off"
    gates = []
    if settings.access_codes:
        gates.append("access code" + (" (own-key use open to all)" if settings.access_code_byo_exempt else ""))
    if settings.allowed_hf_users or settings.allowed_hf_orgs:
        gates.append("Hugging Face login")
    return (
        f"byok-chat: server keys: {keys} | quotas: {quotas} | "
        f"uploads: {describe_uploads(settings)} | gate: {' + '.join(gates) or 'none'} | "
        f"client = {client_identity(settings)} | counted in {describe_storage(settings.rate_limit_storage)} | "
        f"spend limits: {describe_spend(settings)}"
    )
