"""Network values the configuration is parsed into: trusted proxies (which also warn, once, about
a proxy nobody listed), origins, and what counts as a loopback host.

``TRUSTED_PROXIES`` decides whose ``X-Forwarded-For`` is believed; :func:`normalise_origin` is the
one spelling origins are compared in (``ALLOWED_ORIGINS``, ``FRAME_ANCESTORS``, a request's own).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from urllib.parse import urlsplit

__all__ = ["UNTRUSTED_FORWARDS_WARN_AT", "TrustedProxies", "is_loopback_host", "normalise_origin"]

log = logging.getLogger("byok_chat.access")

# This many different X-Forwarded-For values from one peer we do not trust look like a proxy in
# front that nobody told us about (or a client making addresses up): worth one warning.
UNTRUSTED_FORWARDS_WARN_AT = 10
_WATCHED_PEERS_MAX = 1000


class TrustedProxies:
    """``TRUSTED_PROXIES``: addresses or networks of proxies, or ``*`` for "one proxy, any address"."""

    def __init__(self, spec: str) -> None:
        items = [part.strip() for part in spec.split(",") if part.strip()]
        self.any_single_hop = items == ["*"]
        self.networks = () if self.any_single_hop else tuple(ipaddress.ip_network(i, strict=False) for i in items)
        self._forwards_seen: dict[str, set[str]] = {}
        self._warned: set[str] = set()
        self._watch_lock = threading.Lock()

    def __bool__(self) -> bool:
        return self.any_single_hop or bool(self.networks)

    def trusts(self, address: str) -> bool:
        if self.any_single_hop:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        if not forwarded_for:
            return peer
        if not self.trusts(peer):
            self._watch_untrusted(peer, forwarded_for)
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if self.any_single_hop:
            return hops[-1] if hops else peer
        # Walk back from the hop nearest to us; the first address we do not trust is the client.
        # Anything further left was written by the client and proves nothing.
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer

    def _watch_untrusted(self, peer: str, forwarded_for: str) -> None:
        """Warn once per peer that sends many different X-Forwarded-For values we ignore: if it is a
        proxy, every visitor behind it shares one quota and one access-code throttle."""
        with self._watch_lock:
            if peer in self._warned:
                return
            if len(self._forwards_seen) >= _WATCHED_PEERS_MAX and peer not in self._forwards_seen:
                self._forwards_seen.clear()  # bounded memory; a real proxy shows up again quickly
            seen = self._forwards_seen.setdefault(peer, set())
            seen.add(forwarded_for[:200])
            if len(seen) < UNTRUSTED_FORWARDS_WARN_AT:
                return
            self._warned.add(peer)
            del self._forwards_seen[peer]
        log.warning(
            "%d different X-Forwarded-For values arrived from %s, which is not in TRUSTED_PROXIES, so they "
            "were ignored and everyone behind it counts as one client: one quota and one access-code "
            "throttle for all. If %s is a proxy in front of byok-chat, set TRUSTED_PROXIES=%s (or * for "
            "exactly one proxy of any address). If it is not, a client is sending made-up headers.",
            UNTRUSTED_FORWARDS_WARN_AT,
            peer,
            peer,
            peer,
        )


def normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, default ports dropped; None for anything else."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def is_loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
