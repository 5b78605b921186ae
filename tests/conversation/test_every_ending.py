"""Every way a reply can end is counted once: finished, stopped, cancelled, its tab closed, timed
out or failed after some text. Where the provider sent no usage the count is an estimate, and the
usage line in the log says so."""

from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from config.settings import load_settings
from conversation.service import ChatService
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env
from tests.fake_provider import FakeProvider
from tests.replicas import redis_server, start_replica

CLIENT = "ip:127.0.0.1"
# The fake echoes the message word by word (and thinks about it first): long enough to leave midway.
LONG_MESSAGE = " ".join(f"word{i}" for i in range(40))


def _usage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "byok_chat.usage" and "chat client=" in r.getMessage()]


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _start_and_leave(running: RunningApp, model: str, *, updates: int, then: str) -> str:
    """Start a chat, read ``updates`` streamed updates, then leave: ``close`` hangs up the event
    stream as a closed tab does, ``cancel`` asks Gradio to cancel the event as gradio_client does."""
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")
    session_hash = secrets.token_hex(6)
    payload = {
        "data": raw.chat_data(cfg, LONG_MESSAGE, "groq", model, max_tokens=500),
        "fn_index": index,
        "session_hash": session_hash,
        "event_data": None,
        "trigger_id": None,
    }
    with httpx.Client(timeout=30) as client:
        joined = client.post(f"{running.url}/gradio_api/queue/join", json=payload)
        assert joined.status_code == 200
        event_id = joined.json()["event_id"]
        seen = 0
        with client.stream("GET", f"{running.url}/gradio_api/queue/data", params={"session_hash": session_hash}) as s:
            for line in s.iter_lines():
                if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_generating":
                    seen += 1
                    if seen >= updates:
                        break
        if then == "cancel":
            body = {"session_hash": session_hash, "fn_index": index, "event_id": event_id}
            assert client.post(f"{running.url}/gradio_api/cancel", json=body).status_code == 200
    return session_hash


@pytest.mark.parametrize("then", ["close", "cancel"])
@pytest.mark.parametrize("model", ["echo-100", "reason-content-100"])
def test_a_reply_left_mid_stream_is_counted_once_as_an_estimate(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    then: str,
    model: str,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000"))
    _start_and_leave(running, model, updates=3, then=then)
    assert _wait_for(lambda: running.service.usage_today(CLIENT).requests == 1)
    assert _wait_for(lambda: len(_usage_lines(caplog)) == 1)
    usage = running.service.usage_today(CLIENT)
    # The prompt alone is several tokens; some of the reply had streamed too.
    assert usage.tokens > 5
    line = _usage_lines(caplog)[0]
    assert "outcome=stopped" in line and "(estimated)" in line
    assert provider.wait_idle()
    time.sleep(0.5)
    assert len(_usage_lines(caplog)) == 1


def _chat(running: RunningApp, model: str, message: str = "hello there") -> raw.EventResult:
    return raw.chat(running.url, model, message=message)


@pytest.mark.parametrize(
    ("model", "env", "outcome"),
    [
        ("drop", {}, "outcome=ReplyCutOff"),  # the connection dropped after some text
        ("error-event", {}, "outcome=ReplyCutOff"),  # an error event after some text
        ("drip-100-60", {"MAX_REPLY_SECONDS": "1"}, "outcome=ReplyCutOff"),  # the reply's deadline passed
        ("stall-0", {"REQUEST_TIMEOUT": "1"}, "outcome=ProviderTimeout"),  # accepted, then silence
        ("hang", {"REQUEST_TIMEOUT": "1"}, "outcome=ProviderTimeout"),  # sent, never answered
    ],
)
def test_a_reply_that_fails_after_it_started_is_counted_as_an_estimate(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    model: str,
    env: dict[str, str],
    outcome: str,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000", **env))
    _chat(running, model)
    assert _wait_for(lambda: len(_usage_lines(caplog)) == 1)
    line = _usage_lines(caplog)[0]
    assert outcome in line and "(estimated)" in line
    assert running.service.usage_today(CLIENT).tokens > 0
    assert running.service.ledger.in_flight == 0


def test_a_finished_reply_counts_the_providers_numbers_and_a_refused_one_counts_none(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000"))
    assert _chat(running, "m", "one two three").success
    assert not _chat(running, "status-400").success
    first, refused = _usage_lines(caplog)
    # The fake reports 11 prompt tokens and one per word of "You said: one two three".
    assert "outcome=ok prompt_tokens=11 completion_tokens=5" in first and "estimated" not in first
    # A request the provider refused is billed nothing, and is not guessed at.
    assert "prompt_tokens=0 completion_tokens=0" in refused and "estimated" not in refused
    usage = running.service.usage_today(CLIENT)
    assert usage.requests == 2 and usage.tokens == 16


@pytest.mark.slow  # starts redis-server and app.py in processes of their own
def test_sigterm_counts_the_replies_still_streaming(provider: FakeProvider, tmp_path: Path) -> None:
    with redis_server() as redis_url:
        env = routed_env(
            provider, GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000", RATE_LIMIT_STORAGE=redis_url
        )
        process, url, log_path = start_replica(env, tmp_path)
        try:
            cfg = raw.config(url)
            index = raw.fn_index(cfg, "chat")
            chat = threading.Thread(
                target=raw.run_event,
                args=(url, index, raw.chat_data(cfg, LONG_MESSAGE, "groq", "drip-100-100")),
                daemon=True,
            )
            chat.start()
            assert _wait_for(lambda: provider.open_streams == 1)
            time.sleep(0.5)  # some of the reply has streamed
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) is not None
        finally:
            if process.poll() is None:
                process.kill()
        log = log_path.read_text()
        lines = [line for line in log.splitlines() if "chat client=" in line]
        assert len(lines) == 1, log
        assert "outcome=shutdown" in lines[0] and "(estimated)" in lines[0]
        assert "1 replies in flight were counted" in log
        # Counted where every replica (and the next start) sees it.
        after = load_settings({**env, "DAILY_TOKEN_LIMIT": "100000"}, dotenv_path=None)
        usage = ChatService(after).usage_today(CLIENT)
        assert usage.requests == 1 and usage.tokens > 5


def test_a_gradio_client_job_cancelled_mid_reply_is_counted(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000"))
    client = Client(running.url, verbose=False)
    job = client.submit(LONG_MESSAGE, "groq", "echo-100", "", 0.7, 500, api_name="/chat")
    assert _wait_for(lambda: len(job.outputs()) >= 3)
    job.cancel()
    assert _wait_for(lambda: len(_usage_lines(caplog)) == 1)
    line = _usage_lines(caplog)[0]
    assert "outcome=stopped" in line and "(estimated)" in line
    assert running.service.usage_today(CLIENT).tokens > 40
    assert provider.wait_idle()
    assert running.service.ledger.in_flight == 0


def test_a_reply_stopped_before_the_provider_answered_counts_its_prompt(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Some providers send nothing, not even headers, until the model has thought: the request is
    # being billed all the same.
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000"))
    job = Client(running.url, verbose=False).submit(LONG_MESSAGE, "groq", "hang", "", 0.7, 500, api_name="/chat")
    assert _wait_for(lambda: provider.active == 1)
    job.cancel()
    assert _wait_for(lambda: len(_usage_lines(caplog)) == 1)
    line = _usage_lines(caplog)[0]
    assert "outcome=stopped" in line and "completion_tokens=0 " in line and "(estimated)" in line
    assert running.service.usage_today(CLIENT).tokens > 40


def test_a_session_that_ends_mid_reply_counts_the_reply(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The tab's heartbeat stream ends (the session is over) while its reply still streams.
    # (A closed tab drops its event stream too: that case is the "close" one above.)
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="100000"))
    visit = raw.open_page(running.url)
    stop_heartbeat = threading.Event()

    def heartbeat() -> None:
        url = f"{running.url}/gradio_api/heartbeat/{visit.session_hash}"
        with httpx.stream("GET", url, headers=visit.headers, timeout=30) as stream:
            for _ in stream.iter_bytes():
                if stop_heartbeat.is_set():
                    return

    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    cfg = raw.config(running.url)
    chat = threading.Thread(
        target=raw.run_event,
        args=(running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, LONG_MESSAGE, "groq", "echo-100")),
        kwargs={"session_hash": visit.session_hash, "headers": visit.headers},
        daemon=True,
    )
    chat.start()
    assert _wait_for(lambda: provider.open_streams == 1)
    time.sleep(0.5)
    stop_heartbeat.set()
    assert _wait_for(lambda: len(_usage_lines(caplog)) == 1, timeout=20)
    assert provider.wait_idle()
    time.sleep(0.5)
    # Gradio may let the event run on to its end (the event stream is still open): either way
    # the reply is counted, once.
    (line,) = _usage_lines(caplog)
    assert "outcome=ok" in line or ("outcome=stopped" in line and "(estimated)" in line), line
    assert running.service.usage_today(CLIENT).tokens > 40
    assert running.service.ledger.in_flight == 0
