"""When the counter store (Redis) goes away and comes back, with a real redis-server stopped and
restarted mid-run: server-key chats fail closed with a fixed message, visitor-key chats go on
uncounted, a finished reply stays finished, the log says so once, and all of it recovers by itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from config.settings import Settings, load_settings
from errors import ConfigError
from tests import REPO
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, free_port, routed_env
from tests.fake_provider import FakeProvider
from tests.media import image_bytes
from web.access import GATE_PATH

# A real redis-server stopped and restarted under running apps: a replica-style integration test.
pytestmark = pytest.mark.slow

APP = REPO / "app.py"
PAUSED = "Usage limits can't be checked right now"
RECOVERY_LIMIT = 60.0  # how long to keep asking while Redis starts again; not a speed check


class RedisServer:
    """A throwaway redis-server on one port that a test can stop and start again."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed; .ci/run must install it")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def _app(launch: Callable[[Settings], RunningApp], fake: FakeProvider, redis: RedisServer) -> RunningApp:
    env = routed_env(fake, GROQ_API_KEY=canary("server"), RATE_LIMIT="100/minute", RATE_LIMIT_STORAGE=redis.url)
    return launch(load_settings(env, dotenv_path=None))


def _chat(
    running: RunningApp, provider_id: str, *, model: str = "m", visitor_key: str | None = None
) -> raw.EventResult:
    cfg = raw.config(running.url)
    headers = {"x-provider-key": visitor_key} if visitor_key else None
    data = raw.chat_data(cfg, "hello counter", provider_id, model)
    return raw.run_event(running.url, raw.fn_index(cfg, "chat"), data, headers=headers)


def _wait_for_recovery(running: RunningApp) -> None:
    deadline = time.monotonic() + RECOVERY_LIMIT
    while not running.service.usage_today("ip:127.0.0.1").available:
        assert time.monotonic() < deadline, "the counter store never came back"
        time.sleep(0.2)


def test_scripts_in_both_key_modes_through_an_outage_and_back(
    launch: Callable[[Settings], RunningApp],
    provider: FakeProvider,
    redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    running = _app(launch, provider, redis)
    visitor = canary("visitor")
    assert _chat(running, "groq").success
    assert _chat(running, "openai", visitor_key=visitor).success
    assert running.service.usage_today("ip:127.0.0.1").requests == 2
    capfd.readouterr()

    redis.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        before = len(provider.chat_requests)
        refused = [_chat(running, "groq") for _ in range(3)]
        # A script on a server key gets the fixed message, and the key is not spent.
        assert all(not r.success and PAUSED in (r.error or "") for r in refused)
        assert len(provider.chat_requests) == before
        with pytest.raises(AppError) as caught:
            Client(running.url, verbose=False).predict("hi", "groq", "m", "", 0.5, 50, api_name="/chat")
        assert PAUSED in str(caught.value) and "upstream Gradio app" not in str(caught.value)
        # A visitor's own key needs no counter: the chat goes through, whole, uncounted.
        own = [_chat(running, "openai", visitor_key=visitor) for _ in range(3)]
        assert all(r.success for r in own)
        assert all("counter" in (r.output or [""])[0] for r in own)
        assert len(provider.chat_requests) == before + 3
        usage = running.service.usage_today("ip:127.0.0.1")
        assert not usage.available and not running.service.counter_available

    outage_warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(outage_warnings) == 1, [r.getMessage() for r in outage_warnings]
    assert outage_warnings[0].name == "byok_chat.counter" and outage_warnings[0].exc_info is None
    assert "RATE_LIMIT_STORAGE" in outage_warnings[0].getMessage()
    uncounted = [r.getMessage() for r in caplog.records if "not counted: counter store unavailable" in r.getMessage()]
    assert len(uncounted) == 3
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out

    redis.start()
    _wait_for_recovery(running)
    assert _chat(running, "groq").success
    assert _chat(running, "openai", visitor_key=visitor).success
    # The restarted Redis is empty: counting starts again from the chats after the outage.
    assert running.service.usage_today("ip:127.0.0.1").requests == 2
    assert any("answering again" in r.getMessage() for r in caplog.records)


def test_a_reply_that_finishes_during_the_outage_is_still_a_reply(
    launch: Callable[[Settings], RunningApp], provider: FakeProvider, redis: RedisServer
) -> None:
    running = _app(launch, provider, redis)
    results: list[raw.EventResult] = []
    # Admitted while Redis is up; Redis goes away while the reply streams; charging it then fails.
    chat = threading.Thread(target=lambda: results.append(_chat(running, "groq", model="drip-100-20")))
    chat.start()
    deadline = time.monotonic() + 30
    while not provider.chat_requests:
        assert time.monotonic() < deadline, "the chat never reached the provider"
        time.sleep(0.02)
    redis.stop()
    chat.join(60)
    (result,) = results
    assert result.success, result.raw
    assert (result.output or [""])[0] == "drip " * 20


def test_an_unreachable_store_stops_start_up_naming_the_variable_without_the_password(fake: FakeProvider) -> None:
    password = "pw-canary-" + canary("redis")[-12:]
    uri = f"redis://operator:{password}@127.0.0.1:{free_port()}/0"
    with pytest.raises(ConfigError) as caught:
        load_settings(routed_env(fake, RATE_LIMIT_STORAGE=uri), dotenv_path=None)
    message = str(caught.value)
    assert message.startswith("RATE_LIMIT_STORAGE") and "does not answer" in message
    assert password not in message and "operator" not in message

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "PYTEST"))}
    env.update(RATE_LIMIT_STORAGE=uri)
    done = subprocess.run([sys.executable, str(APP)], env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "byok-chat: configuration error: RATE_LIMIT_STORAGE" in done.stderr
    assert "Traceback" not in output and password not in output


def test_the_gate_answers_503_during_the_outage_and_lets_everyone_back_in_after(
    launch: Callable[[Settings], RunningApp], fake: FakeProvider, redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    code = "counter-outage-access-code"
    env = routed_env(fake, GROQ_API_KEY=canary("server"), ACCESS_CODE=code, RATE_LIMIT_STORAGE=redis.url)
    running = launch(load_settings(env, dotenv_path=None))
    entered = httpx.post(running.url + GATE_PATH, data={"code": code})
    assert entered.status_code == 303
    # httpx sends Secure cookies only over https; a browser sends this one to loopback too.
    cookie = {"cookie": entered.headers["set-cookie"].split(";", 1)[0]}
    with httpx.Client(base_url=running.url, headers=cookie) as visitor:
        assert visitor.get("/config").status_code == 200
        redis.stop()
        with caplog.at_level(logging.WARNING):
            # Wrong guesses cannot be counted, so no code is checked at all, and a cookie cannot be
            # told apart from a signed-out one: everybody is told to come back shortly.
            with httpx.Client(base_url=running.url) as stranger:
                refused = stranger.post(GATE_PATH, data={"code": code})
                assert refused.status_code == 503 and "cannot be checked right now" in refused.text
                assert stranger.get("/config", headers={"x-access-code": code}).status_code == 503
            for _ in range(3):
                assert visitor.get("/config").status_code == 503
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
        redis.start()
        _wait_for_recovery(running)
        assert visitor.get("/config").status_code == 200
    assert httpx.post(running.url + GATE_PATH, data={"code": code}).status_code == 303


def test_uploads_pause_during_the_outage_and_resume_after(
    launch: Callable[[Settings], RunningApp], fake: FakeProvider, redis: RedisServer
) -> None:
    """Uploads nobody counts could fill the disk: they wait for the store, like server keys."""
    env = routed_env(fake, RATE_LIMIT_STORAGE=redis.url, UPLOAD_LIMIT_MB="100/hour")
    running = launch(load_settings(env, dotenv_path=None))
    visit = raw.open_page(running.url)

    def upload() -> httpx.Response:
        files = {"files": ("dot.png", image_bytes(), "image/png")}
        return httpx.post(f"{running.url}/gradio_api/upload", files=files, headers=visit.headers, timeout=30)

    assert upload().status_code == 200
    redis.stop()
    paused = upload()
    assert paused.status_code == 503 and paused.text.startswith("Uploads are paused")
    redis.start()
    _wait_for_recovery(running)
    assert upload().status_code == 200


@pytest.mark.browser
def test_the_page_through_an_outage_in_both_key_modes(
    launch: Callable[[Settings], RunningApp], provider: FakeProvider, redis: RedisServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser_helpers import BOT, LAUNCH_ARGS, VIEWPORT, WAIT_MS, ChatPage, chromium_path

    running = _app(launch, provider, redis)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        try:
            chat = ChatPage(browser.new_context(viewport=VIEWPORT).new_page(), running.url).open()
            assert chat.chat("before the outage") == "You said: before the outage"

            redis.stop()
            sent = len(provider.chat_requests)
            chat.send("during the outage")
            expect(chat.page.get_by_text(PAUSED).first).to_be_visible(timeout=WAIT_MS)
            chat.wait_done()
            assert len(provider.chat_requests) == sent, "the server key was spent with no counter"
            assert "Error" not in chat.page.locator(BOT).last.inner_text()

            # The visitor's own key needs no counter.
            chat.choose_provider("OpenAI")
            chat.enter_key(canary("visitor"))
            # (How a failed turn travels with the next one is the page's business, not this test's.)
            reply = chat.chat("my own key")
            assert reply.startswith("You said:") and reply.endswith("my own key")

            # A page opened during the outage loads, with no error badge where the usage goes.
            chat.reload()
            expect(chat.page.locator("#usage")).to_contain_text("the usage counter is unavailable", timeout=WAIT_MS)
            expect(chat.page.locator("#usage")).not_to_contain_text("Error")

            redis.start()
            _wait_for_recovery(running)
            assert chat.chat("after the outage") == "You said: after the outage"
        finally:
            browser.close()
