"""The guard for visitor-chosen base URLs: SSRF attempts are refused before any connection.

Only loopback is ever contacted. Refusals of private, link-local and public addresses are proven
with a recording network backend that never touches the network (it must not even be called);
refusals of loopback targets are proven with a real loopback listener whose accept count stays 0.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore2
import httpx2
import openai
import pytest

from errors import InputRejected
from providers.urlguard import (
    BlockedAddress,
    GuardedBackend,
    RedirectRefused,
    address_refusal,
    check_visitor_url,
    close_guarded_pools,
    guarded_http_client,
    guarded_pool,
)
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- Test doubles --------------------------------------------------------------------------------


class CountingServer(ThreadingHTTPServer):
    """A loopback HTTP server that counts accepted TCP connections and answers one fixed way."""

    daemon_threads = True

    def __init__(self, host: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.accepted = 0
        self.hosts: list[str] = []
        self.status = status
        self.extra_headers = headers or {}
        super().__init__((host, 0), _CountingHandler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        pair = super().get_request()
        self.accepted += 1
        return pair

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))
        data = json.dumps({"ok": True}).encode()
        self.send_response(self.server.status)
        for name, value in self.server.extra_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def listener() -> Iterator[CountingServer]:
    server = CountingServer("127.0.0.1")
    yield server
    server.stop()


class StubStream(httpcore2.AsyncNetworkStream):
    """Stands in for a TCP connection; records the TLS server name and goes no further."""

    def __init__(self, backend: RecordingBackend) -> None:
        self._backend = backend

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        self._backend.sni.append(server_hostname)
        raise httpcore2.ConnectError("stub: no TLS")

    async def aclose(self) -> None:
        pass


class RecordingBackend(httpcore2.AsyncNetworkBackend):
    """Records where the guard would connect, without any network traffic."""

    def __init__(self, *, tls_stub: bool = False) -> None:
        self.connects: list[tuple[str, int]] = []
        self.sni: list[str | None] = []
        self._tls_stub = tls_stub

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        self.connects.append((host, port))
        if self._tls_stub:
            return StubStream(self)
        raise httpcore2.ConnectError("stub: not connecting")

    async def sleep(self, seconds: float) -> None:
        pass


class MappedResolver:
    """A DNS stand-in: each name answers the next entry of its list (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        answers = self._answers.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return answers.pop(0) if len(answers) > 1 else answers[0]


# --- check_visitor_url: refused on its face ------------------------------------------------------

REFUSED_URLS = [
    "http://127.0.0.1:8000/v1",
    "http://[::1]:8000/v1",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/v1",
    "http://0.0.0.0:8000/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://[::ffff:7f00:1]/v1",
    "http://[::]/v1",
    "http://192.168.1.10/v1",
    "http://172.16.0.5/v1",
    "http://100.64.0.1/v1",
    "http://[fd00::1]/v1",
    "http://[fe80::1]/v1",
    "http://[fe80::1%25eth0]/v1",
    "http://[64:ff9b::7f00:1]/v1",  # NAT64 form of 127.0.0.1
    "http://[2002:a00:1::]/v1",  # 6to4 form of 10.0.0.1
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://017700000001/",
    "http://localhost:11434/v1",
    "http://LOCALHOST./v1",
    "http://api.localhost/v1",
    "http://intranet/v1",
    "ftp://api.example.com/v1",
    "file:///etc/passwd",
    "gopher://api.example.com/",
    "javascript:alert(1)",
    "api.example.com/v1",
    "https://user:pass@api.example.com/v1",
    "https://user@api.example.com/v1",
    "https://@api.example.com/v1",
    "https://api.example.com@127.0.0.1/v1",
    "https://api.example.com\\@127.0.0.1/v1",
    "https://api.example.com/v1#frag",
    "https://attacker.example/?api.openai.com",
    "https://api.example.com:0/v1",
    "https://api.example.com:99999/v1",
    "https://api.exa mple.com/v1",
    "https://api.example.com/v\n1",
    "https://api.example.com\t/v1",
    "https://ex%41mple.com/v1",
    "https:///v1",
    "https://" + "a" * 3000 + ".com/v1",
    "",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_on_its_face(url: str) -> None:
    with pytest.raises(InputRejected) as caught:
        check_visitor_url(url, allow_local=False)
    message = str(caught.value)
    # Fixed text only: nothing the visitor typed comes back (it would be rendered as HTML).
    assert "127.0.0.1" not in message
    assert "attacker" not in message
    assert "<" not in message


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://api.example.com/v1", "https://api.example.com/v1"),
        ("HTTPS://API.Example.COM/v1/", "https://api.example.com/v1"),
        ("https://api.example.com:443/v1", "https://api.example.com/v1"),
        ("http://api.example.com:8080/openai/v1", "http://api.example.com:8080/openai/v1"),
        ("  https://api.example.com/v1  ", "https://api.example.com/v1"),
        ("https://bücher.example/v1", "https://xn--bcher-kva.example/v1"),
        ("https://8.8.8.8/v1", "https://8.8.8.8/v1"),
        ("https://[2606:4700:4700::1111]/v1", "https://[2606:4700:4700::1111]/v1"),
    ],
)
def test_public_urls_are_normalised(url: str, normalised: str) -> None:
    assert check_visitor_url(url, allow_local=False) == normalised


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://localhost:11434/v1",
        "http://[::1]:8000/v1",
        "http://192.168.1.10:1234/v1",
        "http://llm-box:8000/v1",
    ],
)
def test_local_targets_pass_when_the_operator_allows_them(url: str) -> None:
    assert check_visitor_url(url, allow_local=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://0.0.0.0:8000/v1",
        "http://224.0.0.1/v1",
        "file:///etc/passwd",
        "https://user:pass@localhost/v1",
    ],
)
def test_metadata_and_nonsense_stay_refused_on_a_local_run(url: str) -> None:
    with pytest.raises(InputRejected):
        check_visitor_url(url, allow_local=True)


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("169.254.169.254", "reserved"),
        ("::ffff:169.254.169.254", "reserved"),
        ("fe80::1", "reserved"),
        ("0.0.0.0", "reserved"),
        ("::", "reserved"),
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible form
        ("224.0.0.1", "reserved"),
        ("ff02::1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
        ("2001:db8::1", "reserved"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 form of 8.8.8.8
    ],
)
def test_address_policy(address: str, refusal: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_local=False) == refusal


def test_local_run_lifts_only_loopback_and_private() -> None:
    for address in ("127.0.0.1", "::1", "10.0.0.1", "192.168.1.1", "fd12::1"):
        assert address_refusal(ipaddress.ip_address(address), allow_local=True) is None
    for address in ("169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "fd00:ec2::254", "100.100.100.200"):
        assert address_refusal(ipaddress.ip_address(address), allow_local=True) == "reserved"


# --- The guarded client: refused at connect time -------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "169.254.169.254",
        "10.0.0.1",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[fd00::1]",
        "[fe80::1]",
    ],
)
async def test_blocked_literals_never_reach_the_network(host: str) -> None:
    backend = RecordingBackend()
    async with guarded_http_client(allow_local=False, backend=backend) as client:
        with pytest.raises(BlockedAddress):
            await client.post(f"http://{host}:8000/v1/chat/completions", json={})
    assert backend.connects == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"])
async def test_loopback_spellings_are_refused_before_connecting(listener: CountingServer, host: str) -> None:
    # The real system resolver and real sockets: only the guard stands in the way.
    async with guarded_http_client(allow_local=False) as client:
        with pytest.raises(BlockedAddress):
            await client.post(f"http://{host}:{listener.port}/v1/chat/completions", json={})
    assert listener.accepted == 0


async def test_ipv6_loopback_is_refused_before_connecting() -> None:
    try:
        server = CountingServer("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        async with guarded_http_client(allow_local=False) as client:
            with pytest.raises(BlockedAddress):
                await client.get(f"http://[::1]:{server.port}/v1/models")
        assert server.accepted == 0
    finally:
        server.stop()


@pytest.mark.parametrize(
    "answer",
    [["10.0.0.1"], ["169.254.169.254"], ["192.168.1.1"], ["fd00::1"], ["::ffff:10.0.0.1"], ["8.8.8.8", "10.0.0.1"]],
)
async def test_public_looking_name_resolving_to_private_space_is_refused(answer: list[str]) -> None:
    resolver = MappedResolver({"api.provider.example": [answer]})
    backend = RecordingBackend()
    async with guarded_http_client(allow_local=False, resolver=resolver, backend=backend) as client:
        with pytest.raises(BlockedAddress):
            await client.post("https://api.provider.example/v1/chat/completions", json={})
    assert resolver.calls == ["api.provider.example"]
    assert backend.connects == []


async def test_name_resolving_to_loopback_is_refused_before_connecting(listener: CountingServer) -> None:
    resolver = MappedResolver({"api.provider.example": [["127.0.0.1"]]})
    async with guarded_http_client(allow_local=False, resolver=resolver) as client:
        with pytest.raises(BlockedAddress):
            await client.post(f"http://api.provider.example:{listener.port}/v1/chat/completions", json={})
    assert listener.accepted == 0


async def test_connects_to_the_vetted_address_not_a_fresh_lookup() -> None:
    # DNS rebinding: the name answers a public address to the check, loopback right after.
    resolver = MappedResolver({"rebind.example": [["8.8.8.8"], ["127.0.0.1"]]})
    backend = RecordingBackend()
    async with guarded_http_client(allow_local=False, resolver=resolver, backend=backend) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get("http://rebind.example/v1/models")
        assert backend.connects == [("8.8.8.8", 80)]
        # The next connection is looked up and vetted again, and now refused.
        with pytest.raises(BlockedAddress):
            await client.get("http://rebind.example/v1/models")
    assert resolver.calls == ["rebind.example", "rebind.example"]
    assert backend.connects == [("8.8.8.8", 80)]


async def test_tls_keeps_the_host_name_for_sni() -> None:
    resolver = MappedResolver({"llm.provider.example": [["8.8.4.4"]]})
    backend = RecordingBackend(tls_stub=True)
    async with guarded_http_client(allow_local=False, resolver=resolver, backend=backend) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get("https://llm.provider.example/v1/models")
    assert backend.connects == [("8.8.4.4", 443)]
    assert backend.sni == ["llm.provider.example"]


async def test_host_header_keeps_the_name_while_connecting_to_the_vetted_ip(listener: CountingServer) -> None:
    resolver = MappedResolver({"llm.provider.example": [["127.0.0.1"]]})
    async with guarded_http_client(allow_local=True, resolver=resolver) as client:
        response = await client.get(f"http://llm.provider.example:{listener.port}/v1/models")
    assert response.status_code == 200
    assert listener.accepted == 1
    assert listener.hosts == [f"llm.provider.example:{listener.port}"]


async def test_unresolvable_name_is_a_connect_error() -> None:
    backend = RecordingBackend()
    async with guarded_http_client(allow_local=False, resolver=MappedResolver({}), backend=backend) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get("https://no-such-name.example/v1/models")
    assert backend.connects == []


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(BlockedAddress):
        await GuardedBackend(allow_local=True).connect_unix_socket("/var/run/docker.sock")


# --- Redirects -----------------------------------------------------------------------------------


@pytest.fixture
def redirect_pair() -> Iterator[tuple[CountingServer, CountingServer]]:
    target = CountingServer("127.0.0.1")
    first = CountingServer(
        "127.0.0.1", status=302, headers={"Location": f"http://127.0.0.1:{target.port}/v1/chat/completions"}
    )
    yield first, target
    first.stop()
    target.stop()


@pytest.mark.parametrize("follow", [False, True])
async def test_a_redirect_is_refused_not_followed(
    redirect_pair: tuple[CountingServer, CountingServer], follow: bool
) -> None:
    first, target = redirect_pair
    async with guarded_http_client(allow_local=True) as client:
        with pytest.raises(RedirectRefused):
            await client.post(f"http://127.0.0.1:{first.port}/v1/chat/completions", json={}, follow_redirects=follow)
    assert first.accepted == 1
    assert target.accepted == 0


async def test_redirecting_loopback_is_refused_before_the_first_hop(
    redirect_pair: tuple[CountingServer, CountingServer],
) -> None:
    first, target = redirect_pair
    async with guarded_http_client(allow_local=False) as client:
        with pytest.raises(BlockedAddress):
            await client.post(f"http://127.0.0.1:{first.port}/v1/chat/completions", json={})
    assert (first.accepted, target.accepted) == (0, 0)


# --- Through the openai SDK, as chat.py will use it ----------------------------------------------


def _sdk(base_url: str, http_client: httpx2.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-visitor-test", base_url=base_url, http_client=http_client, max_retries=2)


async def _chat(client: openai.AsyncOpenAI) -> str:
    stream = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hello there"}], stream=True
    )
    text = ""
    async for chunk in stream:
        for choice in chunk.choices:
            text += (choice.delta.content or "") if choice.delta else ""
    return text


async def test_sdk_reaches_a_loopback_provider_when_local_targets_are_allowed(provider: FakeProvider) -> None:
    async with guarded_http_client(allow_local=True) as http_client:
        text = await _chat(_sdk(provider.base_url, http_client))
    assert "hello there" in text
    assert len(provider.chat_requests) == 1


async def test_sdk_passes_the_refusal_through_unwrapped_and_unretried(listener: CountingServer) -> None:
    # Not an APIConnectionError: the adapter can show the fixed refusal text, and the SDK does
    # not retry it.
    resolver = MappedResolver({"api.provider.example": [["127.0.0.1"]]})
    async with guarded_http_client(allow_local=False, resolver=resolver) as http_client:
        with pytest.raises(BlockedAddress):
            await _chat(_sdk(f"http://api.provider.example:{listener.port}/v1", http_client))
    assert resolver.calls == ["api.provider.example"]  # one attempt, although max_retries=2
    assert listener.accepted == 0


async def test_sdk_does_not_follow_a_redirect(redirect_pair: tuple[CountingServer, CountingServer]) -> None:
    first, target = redirect_pair
    async with guarded_http_client(allow_local=True) as http_client:
        with pytest.raises(RedirectRefused):
            await _chat(_sdk(f"http://127.0.0.1:{first.port}/v1", http_client))
    assert first.accepted == 1
    assert target.accepted == 0


# --- The per-loop pool ---------------------------------------------------------------------------


async def test_guarded_pool_is_shared_per_loop_and_per_policy() -> None:
    strict = guarded_pool(allow_local=False)
    assert guarded_pool(allow_local=False) is strict
    local = guarded_pool(allow_local=True)
    assert local is not strict
    await close_guarded_pools()
    assert strict.is_closed
    assert local.is_closed
    assert guarded_pool(allow_local=False) is not strict
    await close_guarded_pools()
