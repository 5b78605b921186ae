"""Replicas behind a proxy, with real parts: Debian's nginx running deploy/nginx.conf (the shipped
sticky config, changed only in its listen address and server lines), two `python app.py` replicas
from the fresh requirements.txt venv, and a real redis-server for the shared counters.

Visitors come from their own loopback addresses (127.0.0.2, 127.0.0.3, ...), so nginx's
X-Forwarded-For names each of them; the replicas trust it because TRUSTED_PROXIES=127.0.0.1.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests import gradio_raw
from tests.browser_helpers import LAUNCH_ARGS, VIEWPORT, ChatPage, chromium_path
from tests.conftest import canary, free_port, routed_env
from tests.deploy_helpers import REPO, AppProcess, base_environment, run_app, wait_until_up
from tests.fake_provider import FakeProvider

ROUTE_COOKIE = "byok_route"
SERVER_KEY = canary("replicas")


def render_nginx_conf(port: int, upstreams: list[int], workdir: Path) -> str:
    """deploy/nginx.conf with this run's listen address and replicas; everything else as shipped."""
    shipped = (REPO / "deploy" / "nginx.conf").read_text()
    conf, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", shipped)
    assert listens == 1
    servers = "\n".join(f"        server 127.0.0.1:{u};" for u in upstreams)
    conf, found = re.subn(r"(?:\n        server app\d:7860;)+", "\n" + servers, conf)
    assert found == 1
    # Keep this run's files in its own folder, not /var/log/nginx or /var/lib/nginx.
    temp = "\n".join(
        f"    {name}_temp_path {workdir / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {\n", f"http {{\n    access_log {workdir / 'access.log'};\n{temp}\n", 1)
    return conf


@dataclass
class Topology:
    url: str
    replicas: list[AppProcess]
    redis_url: str

    def replica_of(self, app_id: object) -> int:
        ids = [gradio_raw.config(r.url)["app_id"] for r in self.replicas]
        return ids.index(app_id)


@pytest.fixture(scope="module")
def topology(
    deployed_python: Path, tracked_copy: Path, fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    nginx, redis = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("redis-server")
    if not Path(nginx).exists() or redis is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx and redis-server must be installed in CI (.ci/run)")
        pytest.skip("needs nginx and redis-server (apt-get install nginx redis-server)")
    work = tmp_path_factory.mktemp("replicas")
    with ExitStack() as stack:
        redis_port = free_port()
        redis_proc = subprocess.Popen(
            [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        stack.callback(lambda: (redis_proc.terminate(), redis_proc.wait(10)))
        redis_url = f"redis://127.0.0.1:{redis_port}"
        replicas = []
        for n in range(2):
            port = free_port()
            env = base_environment(
                work / f"home{n}",
                **routed_env(
                    fake,
                    GROQ_API_KEY=SERVER_KEY,
                    RATE_LIMIT="3/minute",
                    RATE_LIMIT_STORAGE=redis_url,
                    TRUSTED_PROXIES="127.0.0.1",
                ),
            )
            app = stack.enter_context(
                run_app(deployed_python, tracked_copy, env, port=port, args=("--port", str(port)))
            )
            replicas.append(app)
        port = free_port()
        conf = work / "nginx.conf"
        conf.write_text(render_nginx_conf(port, [int(r.url.rsplit(":", 1)[1]) for r in replicas], work))
        proxy = subprocess.Popen(
            [
                nginx,
                "-p",
                str(work),
                "-c",
                str(conf),
                "-e",
                str(work / "error.log"),
                "-g",
                "daemon off; pid nginx.pid;",
            ],
            stderr=subprocess.STDOUT,
            stdout=(work / "nginx.out").open("wb"),
        )
        stack.callback(lambda: (proxy.terminate(), proxy.wait(10)))
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proxy, work / "nginx.out")  # type: ignore[arg-type]
        yield Topology(url=url, replicas=replicas, redis_url=redis_url)
        for replica in replicas:
            assert SERVER_KEY not in replica.log()


class Visitor:
    """A script that behaves like a browser: keeps nginx's route cookie, comes from its own address.

    The cookie is sent by hand: it is marked Secure (deploy/nginx.conf expects TLS in front), which
    httpx rightly refuses to send over plain http; a browser makes an exception for 127.0.0.1.
    """

    def __init__(self, url: str, address: str, *, route: str | None = None) -> None:
        self.url = url
        self.client = httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)
        self.route = route
        self.app_id: object = None

    def headers(self, **extra: str) -> dict[str, str]:
        return {**({"cookie": f"{ROUTE_COOKIE}={self.route}"} if self.route else {}), **extra}

    def open(self) -> Visitor:
        page = self.client.get(self.url + "/", headers=self.headers())
        assert page.status_code == 200
        cookie = page.headers.get("set-cookie", "")
        assert "HttpOnly" in cookie and "Secure" in cookie
        self.route = re.search(rf"{ROUTE_COOKIE}=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
        self.app_id = self.client.get(self.url + "/config", headers=self.headers()).json()["app_id"]
        return self

    def chat(self, text: str, **headers: str) -> gradio_raw.EventResult:
        cfg = self.client.get(self.url + "/config", headers=self.headers()).json()
        assert cfg["app_id"] == self.app_id, "the session moved to another replica"
        session = secrets.token_hex(6)
        payload = {
            "data": gradio_raw.chat_data(cfg, text, "groq", "m"),
            "fn_index": gradio_raw.fn_index(cfg, "chat"),
            "session_hash": session,
            "event_data": None,
            "trigger_id": None,
        }
        joined = self.client.post(self.url + "/gradio_api/queue/join", json=payload, headers=self.headers(**headers))
        assert joined.status_code == 200, joined.text
        result = gradio_raw.EventResult(status=200)
        with self.client.stream(
            "GET", self.url + "/gradio_api/queue/data", params={"session_hash": session}, headers=self.headers()
        ) as stream:
            for line in stream.iter_lines():
                if gradio_raw._collect(result, line):
                    break
        return result

    def close(self) -> None:
        self.client.close()


def visitors_on_both_replicas(topology: Topology, address: str) -> list[Visitor]:
    """Open sessions from one address until both replicas hold at least one."""
    seen: dict[object, Visitor] = {}
    opened = []
    for _ in range(40):
        visitor = Visitor(topology.url, address).open()
        opened.append(visitor)
        seen.setdefault(visitor.app_id, visitor)
        if len(seen) == 2:
            return list(seen.values())
    raise AssertionError("40 new visitors all landed on one replica: the hash is not spreading them")


def test_quota_is_shared_by_both_replicas_and_each_visitor_has_their_own(topology: Topology) -> None:
    first, second = visitors_on_both_replicas(topology, "127.0.0.2")
    outcomes = [v.chat(f"turn {n}").success for n, v in enumerate([first, second, first])]
    assert outcomes == [True, True, True]
    # The fourth chat from 127.0.0.2 is refused by whichever replica gets it: one count in Redis.
    for visitor in (first, second):
        refused = visitor.chat("one too many")
        assert not refused.success and "3 per minute" in str(refused.error), refused.raw
    # Another visitor, even one who claims to be 127.0.0.2, is counted by the address nginx saw.
    other = Visitor(topology.url, "127.0.0.3").open()
    assert other.chat("my own count").success
    assert other.chat("spoofing", **{"x-forwarded-for": "127.0.0.2"}).success
    logs = "".join(r.log() for r in topology.replicas)
    assert logs.count("chat client=ip:127.0.0.2 provider=groq") == 3
    assert logs.count("chat refused client=ip:127.0.0.2 provider=groq reason=QuotaExceeded") == 2
    assert logs.count("chat client=ip:127.0.0.3 provider=groq") == 2


def test_a_browser_session_stays_on_one_replica_across_events_and_reload(topology: Topology) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            chat = ChatPage(context.new_page(), topology.url).open()
            route = next(c["value"] for c in context.cookies() if c["name"] == ROUTE_COOKIE)
            assert "You said: first" in chat.chat("first")
            chat.set_model("another-model")  # another event in the same session
            assert "You said: second" in chat.chat("second")
            chat.reload()
            assert "You said: after reload" in chat.chat("after reload")
            # The route never changed, and every chat landed on the replica it names.
            assert next(c["value"] for c in context.cookies() if c["name"] == ROUTE_COOKIE) == route
            counts = [r.log().count("chat client=ip:127.0.0.1 provider=groq") for r in topology.replicas]
            assert sorted(counts) == [0, 3], counts
        finally:
            browser.close()


def test_origin_check_and_session_binding_hold_through_nginx(topology: Topology) -> None:
    """The browser boundary sees nginx's forwarded Host: the page's own origin passes, another is
    refused, and a session bound to one browser's cookie cannot be read with another's."""
    owner = Visitor(topology.url, "127.0.0.4").open()
    page = owner.client.get(topology.url + "/", headers=owner.headers())
    set_cookies = "; ".join(page.headers.get_list("set-cookie"))
    browser_cookie = re.search(r"(?:__Host-)?byok_browser=[^;]+", set_cookies)
    assert browser_cookie, set_cookies
    cookies = f"{ROUTE_COOKIE}={owner.route}; {browser_cookie.group(0)}"
    cfg = owner.client.get(topology.url + "/config", headers={"cookie": cookies}).json()
    session = secrets.token_hex(6)
    payload = {
        "data": gradio_raw.chat_data(cfg, "bound", "groq", "m"),
        "fn_index": gradio_raw.fn_index(cfg, "chat"),
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    own_origin = {"cookie": cookies, "origin": topology.url}
    joined = owner.client.post(topology.url + "/gradio_api/queue/join", json=payload, headers=own_origin)
    assert joined.status_code == 200, joined.text
    foreign = {"cookie": cookies, "origin": "http://127.0.0.1:9"}
    refused = owner.client.post(topology.url + "/gradio_api/queue/join", json=payload, headers=foreign)
    assert refused.status_code == 403
    # Same replica (same route cookie), another browser's cookie: the session is not theirs.
    stranger = {"cookie": f"{ROUTE_COOKIE}={owner.route}; __Host-byok_browser={'x' * 32}"}
    stolen = owner.client.get(
        topology.url + "/gradio_api/queue/data", params={"session_hash": session}, headers=stranger
    )
    assert stolen.status_code == 403 and "another browser" in stolen.text
