"""The guard for base URLs that a visitor types (only when the operator allows custom base URLs).

A visitor-chosen URL turns the server into a client for whatever the visitor names, so two layers
stand between that URL and the network:

* ``check_visitor_url`` refuses a URL on its face (scheme, userinfo, odd host spellings, local
  IP literals) with a fixed message, and returns the one normalised form the app should store.
* ``guarded_http_client`` is an HTTP client whose network backend resolves the host itself,
  refuses any blocked address, and connects to the very address it vetted. Checking there, at
  connect time, is what defeats DNS rebinding (the name cannot change between check and connect)
  and covers every connection the client ever opens. It never follows a redirect: a 3xx
  answer raises ``RedirectRefused`` instead of being returned or followed.

Every refusal is an ``InputRejected`` whose text is fixed: it never repeats the URL, which a
visitor controls and Gradio renders as HTML.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio
import httpcore2
import httpx2

from errors import InputRejected
from words import Phrase

from .pool import PoolTransport

__all__ = [
    "BlockedAddress",
    "GuardedBackend",
    "GuardedTransport",
    "RedirectRefused",
    "Resolver",
    "address_refusal",
    "check_visitor_url",
    "close_guarded_pools",
    "guarded_http_client",
    "guarded_pool",
    "system_resolver",
]

log = logging.getLogger("byok_chat.urlguard")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Resolves (host, port) to IP address strings, in the order to try them. Injectable so tests can
# map a public-looking name to any address without touching DNS or /etc/hosts.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}

_BAD_URL = "url_invalid"
_BAD_SCHEME = "url_scheme"
_HAS_USERINFO = "url_userinfo"
_HAS_EXTRAS = "url_extras"
_TOO_LONG = Phrase("url_too_long", {"limit": MAX_URL_LENGTH})
_BAD_PORT = "url_port"
_BAD_HOST = "url_host"
_NUMERIC_HOST = "url_numeric_host"
_BLOCKED = "url_blocked"
_REDIRECTED = "url_redirect"


class BlockedAddress(InputRejected):
    """The URL's host is, or resolves to, an address visitors may not reach."""

    def __init__(self) -> None:
        super().__init__(_BLOCKED)


class RedirectRefused(InputRejected):
    """The server at a visitor's URL answered 3xx; following it would bypass the URL check."""

    def __init__(self) -> None:
        super().__init__(_REDIRECTED)


# --- Which addresses are refused -----------------------------------------------------------------


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Never a chat API, even on a local-only run: cloud metadata (the classic SSRF prize) and all
# link-local, unspecified, multicast, broadcast, documentation and reserved space.
_ALWAYS_REFUSED = _networks(
    "169.254.0.0/16",  # link-local, incl. 169.254.169.254 / 169.254.170.2 metadata
    "100.100.100.200/32",  # Alibaba Cloud metadata (inside CGNAT space)
    "fd00:ec2::/32",  # AWS metadata over IPv6 (fd00:ec2::254), inside ULA space
    "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, incl. 255.255.255.255
    "::/8",  # unspecified, IPv4-compatible and other reserved forms (mapped ones are unwrapped first)
    "100::/64",  # discard-only
    "2001::/23",  # IETF protocol assignments, incl. Teredo (which embeds arbitrary IPv4)
    "2001:db8::/32",
    "3fff::/20",  # documentation
    "fe80::/10",  # link-local
    "fec0::/10",  # deprecated site-local
    "ff00::/8",  # multicast
)
# The operator's own networks: refused unless the operator allows local targets.
_LOCAL = _networks(
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT, often the provider's internal network
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "fc00::/7",  # unique local
    "64:ff9b:1::/48",  # local-use NAT64
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form really reaches (mapped, NAT64, 6to4), else the address."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address


def address_refusal(address: IPAddress, *, allow_local: bool) -> str | None:
    """Why this address is refused ("loopback", "reserved", "private"), or None if allowed."""
    address = _embedded_ipv4(address)
    # Checked before the reserved list, because ::1 sits inside ::/8.
    if address.is_loopback:
        return None if allow_local else "loopback"
    if any(address in network for network in _ALWAYS_REFUSED):
        return "reserved"
    if any(address in network for network in _LOCAL):
        return None if allow_local else "private"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# --- The syntactic check -------------------------------------------------------------------------

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A last label like these makes the whole host an IPv4 address to URL parsers and to
# getaddrinfo (2130706433, 0x7f.1, 127.1): the classic way to dress up 127.0.0.1.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


def check_visitor_url(url: str, *, allow_local: bool) -> str:
    """Refuse a visitor's base URL on its face, or return its normalised form.

    The normalised form is what the app should store and pass on, so that what was checked is
    exactly what is used. Host names are vetted again after DNS resolution by the guarded client.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InputRejected(_TOO_LONG)
    text = url.strip()
    # Whitespace, control characters and backslashes are where URL parsers disagree with one
    # another; a disagreement is how a checked URL ends up meaning a different host.
    if not text or any(ch <= " " or ch in "\\\x7f" for ch in text):
        raise InputRejected(_BAD_URL)
    try:
        parsed = httpx2.URL(text)
    except (httpx2.InvalidURL, ValueError, TypeError):
        raise InputRejected(_BAD_URL) from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise InputRejected(_BAD_SCHEME)
    if parsed.userinfo or "@" in _authority(text):
        raise InputRejected(_HAS_USERINFO)
    if parsed.query or parsed.fragment or "?" in text or "#" in text:
        raise InputRejected(_HAS_EXTRAS)
    port = _checked_port(parsed)
    host = _checked_host(parsed.raw_host.decode("ascii"), allow_local=allow_local)
    default = _DEFAULT_PORTS[parsed.scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parsed.scheme}://{netloc}{parsed.raw_path.decode('ascii').rstrip('/')}"


def _authority(text: str) -> str:
    """The part between "//" and the path, as typed (before any parser tidies it up)."""
    match = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://([^/]*)", text)
    return match.group(1) if match else ""


def _checked_port(parsed: httpx2.URL) -> int | None:
    port = parsed.port
    if port is not None and not 1 <= port <= 65535:
        raise InputRejected(_BAD_PORT)
    return port


def _checked_host(host: str, *, allow_local: bool) -> str:
    """The host as it goes into the normalised URL (IPv6 in brackets)."""
    if not host or "%" in host:  # empty, percent-encoded, or an IPv6 zone id
        raise InputRejected(_BAD_HOST)
    address = _parse_ip(host) if ":" in host or _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]) else None
    if address is not None:
        if address_refusal(address, allow_local=allow_local):
            raise BlockedAddress()
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    if ":" in host:  # a malformed IPv6 literal
        raise InputRejected(_BAD_HOST)
    name = host.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InputRejected(_BAD_HOST)
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise InputRejected(_NUMERIC_HOST)
    # Names that mean this machine or the local network; they would be refused after resolution
    # anyway, but saying so now gives the visitor a clear answer without a DNS lookup.
    if not allow_local and (len(labels) == 1 or labels[-1] == "localhost"):
        raise BlockedAddress()
    return name


# --- The connect-time guard ----------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver, without blocking the event loop."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """A network backend that connects only to vetted addresses.

    httpcore2 asks the backend to ``connect_tcp(host, port)`` with the URL's host; TLS is started
    afterwards on the returned stream with that same host as SNI (and the Host header is never
    touched), so swapping the host for the vetted IP here changes where we connect and nothing
    else.
    """

    def __init__(
        self,
        *,
        allow_local: bool,
        resolver: Resolver | None = None,
        backend: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_local = allow_local
        self._resolver = resolver or system_resolver
        self._backend = backend or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = await self._vetted_addresses(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self._backend.connect_tcp(
                    address,
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc  # try the next vetted address, like a plain client would
        raise failure or httpcore2.ConnectError("no address to connect to")

    async def _vetted_addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        literal = _parse_ip(host)
        addresses = [host] if literal is not None else await self._resolve(host, port, timeout)
        for address in addresses:
            parsed = _parse_ip(address)
            reason = "unparsable" if parsed is None else address_refusal(parsed, allow_local=self._allow_local)
            if reason is not None:
                # All or nothing: a name that also resolves to a private address is an attack,
                # not a provider with one bad record.
                log.warning("refused a visitor base URL: it resolves to a %s address", reason)
                raise BlockedAddress()
        return addresses

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            with anyio.fail_after(timeout):
                found = await self._resolver(host, port)
        except TimeoutError:
            raise httpcore2.ConnectTimeout("name resolution timed out") from None
        except OSError:
            raise httpcore2.ConnectError("name resolution failed") from None
        unique = list(dict.fromkeys(found))
        if not unique:
            raise httpcore2.ConnectError("name resolution found no address")
        return unique

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise BlockedAddress()  # a local socket is never a visitor's target

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(PoolTransport):
    """The shared transport's pool over a ``GuardedBackend``, refusing every 3xx answer. No proxy:
    a proxy would connect on our behalf, to addresses we never vetted."""

    def __init__(
        self,
        *,
        allow_local: bool,
        limits: httpx2.Limits,
        resolver: Resolver | None = None,
        backend: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(
            limits=limits,
            network_backend=GuardedBackend(allow_local=allow_local, resolver=resolver, backend=backend),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.scheme not in _DEFAULT_PORTS:
            raise InputRejected(_BAD_SCHEME)
        response = await super().handle_async_request(request)
        if 300 <= response.status_code < 400:
            # Checked here rather than trusting follow_redirects=False, so a per-request
            # follow_redirects=True (the openai SDK has such an option) cannot follow it either.
            await response.aclose()
            log.warning("refused a visitor base URL: it answered with a redirect (%s)", response.status_code)
            raise RedirectRefused()
        return response


GUARDED_LIMITS = httpx2.Limits(max_connections=200, max_keepalive_connections=20, keepalive_expiry=15.0)
GUARDED_TIMEOUT = httpx2.Timeout(60.0, connect=10.0)


def guarded_http_client(
    *,
    allow_local: bool,
    resolver: Resolver | None = None,
    backend: httpcore2.AsyncNetworkBackend | None = None,
) -> httpx2.AsyncClient:
    """An HTTP client for visitor-chosen base URLs (pass it as the openai SDK's ``http_client``).

    ``resolver`` and ``backend`` exist for tests; production uses the system resolver and anyio.
    """
    return httpx2.AsyncClient(
        transport=GuardedTransport(allow_local=allow_local, limits=GUARDED_LIMITS, resolver=resolver, backend=backend),
        timeout=GUARDED_TIMEOUT,
        follow_redirects=False,
        # No proxies or .netrc credentials from the environment.
        trust_env=False,
    )


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, httpx2.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def guarded_pool(*, allow_local: bool) -> httpx2.AsyncClient:
    """The event loop's shared guarded client (an httpx client is bound to one loop)."""
    pools = _POOLS.setdefault(asyncio.get_running_loop(), {})
    client = pools.get(allow_local)
    if client is None or client.is_closed:
        client = pools[allow_local] = guarded_http_client(allow_local=allow_local)
    return client


async def close_guarded_pools() -> None:
    for client in _POOLS.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()
