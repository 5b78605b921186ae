"""byok-chat behind a real LiteLLM proxy (``litellm --config`` on loopback), in both key modes.

LiteLLM is large, so it lives in its own virtualenv, not in the ``test`` extra: ``.ci/run`` builds
it and sets ``LITELLM_BIN``. Without it these tests are skipped, except under ``CI=true``, where a
missing gateway fails. The proxy serves two kinds of model: LiteLLM's own mock (``mock_response``)
and a model it forwards to the fake provider, so a slow stream and Stop can be watched at the far
end. The operator points byok-chat at the proxy with ``OPENAI_BASE_URL``; the master key is the
server key (or the visitor's own key) and must never come back in a response or a log line.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import load_settings
from errors import InvalidKey, UnknownModel
from tests import gradio_raw
from tests.conftest import RunningApp, canary, free_port, start_app
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.gateway

MASTER_KEY = canary("litellm-master")
UPSTREAM_KEY = canary("litellm-upstream")
MOCK_REPLY = "Hello from the gateway, in several small pieces."
DRIP_CHUNKS = 12


def litellm_bin() -> str:
    path = os.environ.get("LITELLM_BIN", "")
    if path and Path(path).is_file():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("LITELLM_BIN is not set to a litellm executable: .ci/run must build the LiteLLM venv")
    pytest.skip("set LITELLM_BIN to a litellm executable (pip install 'litellm[proxy]' in its own venv)")


@dataclass
class Gateway:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def gateway(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    executable = litellm_bin()
    work = tmp_path_factory.mktemp("litellm")
    upstream = f"http://127.0.0.1:{fake.port}/upstream/v1"
    config = {
        "model_list": [
            {"model_name": "mock-model", "litellm_params": {"model": "openai/mock-model", "mock_response": MOCK_REPLY}},
            {
                # Forwarded to the fake provider: 150 ms between chunks, so Stop lands mid-stream.
                "model_name": "slow-model",
                "litellm_params": {"model": "openai/drip-150", "api_base": upstream, "api_key": UPSTREAM_KEY},
            },
            {
                "model_name": "short-drip",
                "litellm_params": {
                    "model": f"openai/drip-150-{DRIP_CHUNKS}",
                    "api_base": upstream,
                    "api_key": UPSTREAM_KEY,
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    config_path = work / "config.yaml"
    config_path.write_text(json.dumps(config))  # JSON is YAML, and needs no YAML library here
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        # Use the cost map shipped with LiteLLM instead of fetching it from GitHub at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    log_path = work / "litellm.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable, "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log_path)
        yield Gateway(url=url, log=log_path)
    finally:
        _stop(process)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 180  # a cold start imports a great deal on two busy cores
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"litellm exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"litellm did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The proxy runs in its own process group (start_new_session): end exactly that group.
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _settings_env(gateway: Gateway, *, server_key: bool) -> dict[str, str]:
    env = {"OPENAI_BASE_URL": f"{gateway.url}/v1", "RATE_LIMIT": "off", "DAILY_TOKEN_LIMIT": "0"}
    if server_key:
        env["OPENAI_API_KEY"] = MASTER_KEY
    return env


@pytest.fixture(scope="module", params=["server", "visitor"])
def app(request: pytest.FixtureRequest, gateway: Gateway) -> Iterator[tuple[RunningApp, dict[str, str]]]:
    """The app pointed at the proxy; in "visitor" mode it has no key and the visitor brings the master key."""
    server = request.param == "server"
    settings = load_settings(_settings_env(gateway, server_key=server), dotenv_path=None)
    running = start_app(settings)
    headers = {} if server else {"X-Provider-Key": MASTER_KEY}
    try:
        yield running, headers
    finally:
        running.close()


def _chat(running: RunningApp, model: str, headers: dict[str, str], message: str = "hello") -> gradio_raw.EventResult:
    cfg = gradio_raw.config(running.url)
    data = gradio_raw.chat_data(cfg, message, "openai", model)
    return gradio_raw.run_event(running.url, gradio_raw.fn_index(cfg, "chat"), data, headers=headers, timeout=60)


def _updates(result: gradio_raw.EventResult) -> list[str]:
    """The reply as the page saw it after each update: Gradio sends the first value whole, then diffs."""
    text = ""
    texts = []
    for event in result.events:
        if event.get("msg") not in ("process_generating", "process_completed") or not event.get("success", True):
            continue
        value = ((event.get("output") or {}).get("data") or [None])[0]
        if isinstance(value, str):
            text = value
        elif isinstance(value, list):
            for op, path, change in value:
                if op == "append" and path == []:
                    text += change
                elif op == "replace" and path == []:
                    text = change
        else:
            continue
        texts.append(text)
    return texts


def _assert_no_master_key(*texts: str) -> None:
    for text in texts:
        assert MASTER_KEY not in text
        assert MASTER_KEY.removeprefix("sk-") not in text


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Any]:
    caplog.set_level(logging.DEBUG)

    def read() -> str:
        return caplog.text + "".join(capfd.readouterr())

    yield read


def test_a_gateway_mock_reply_arrives_whole(app: tuple[RunningApp, dict[str, str]], logs: Any) -> None:
    running, headers = app
    result = _chat(running, "mock-model", headers)
    assert result.success, result.raw
    assert result.output[0] == MOCK_REPLY
    _assert_no_master_key(result.raw, logs())


def test_a_forwarded_reply_streams_through_the_gateway(
    app: tuple[RunningApp, dict[str, str]], provider: FakeProvider, logs: Any
) -> None:
    running, headers = app
    result = _chat(running, "short-drip", headers)
    assert result.success, result.raw
    assert result.output[0] == "drip " * DRIP_CHUNKS
    updates = _updates(result)
    # Several growing updates, not one reply at the end: the proxy streamed and so did the app.
    partial = [u for u in updates if u and u != "drip " * DRIP_CHUNKS]
    assert len(partial) >= 2, updates
    assert all(b.startswith(a) for a, b in itertools.pairwise(updates))
    # The upstream saw LiteLLM's own key for it, never the master key.
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {UPSTREAM_KEY}"]
    _assert_no_master_key(result.raw, logs(), json.dumps([r.headers for r in provider.requests]))


def test_stop_ends_the_stream_at_the_far_end_of_the_gateway(
    app: tuple[RunningApp, dict[str, str]], provider: FakeProvider, logs: Any
) -> None:
    running, headers = app
    cfg = gradio_raw.config(running.url)
    index = gradio_raw.fn_index(cfg, "chat")
    session = secrets.token_hex(8)
    payload = {
        "data": gradio_raw.chat_data(cfg, "stream please", "openai", "slow-model"),
        "fn_index": index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    raw = ""
    shown = ""
    seen: list[dict[str, Any]] = []
    with httpx.Client(timeout=60, headers=headers) as client:
        joined = client.post(f"{running.url}/gradio_api/queue/join", json=payload)
        assert joined.status_code == 200, joined.text
        event_id = joined.json()["event_id"]
        params = {"session_hash": session}
        with client.stream("GET", f"{running.url}/gradio_api/queue/data", params=params) as stream:
            for line in stream.iter_lines():
                raw += line + "\n"
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                seen.append(event)
                texts = _updates(gradio_raw.EventResult(status=200, events=seen))
                if texts and "drip" in texts[-1] and not shown:
                    shown = texts[-1]
                    # What the Stop button sends.
                    stop = {"session_hash": session, "fn_index": index, "event_id": event_id}
                    assert client.post(f"{running.url}/gradio_api/cancel", json=stop).status_code == 200
                if event.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                    break
    assert shown, raw
    # The proxy passed the hang-up on: the fake provider behind it stopped well before 40 chunks.
    assert provider.wait_idle(10.0), f"upstream still streaming: {provider.open_streams}"
    assert provider.closed_early == 1
    _assert_no_master_key(raw, logs())


def test_an_unknown_model_is_named_as_such(app: tuple[RunningApp, dict[str, str]], logs: Any) -> None:
    running, headers = app
    result = _chat(running, "no-such-model", headers)
    assert not result.success, result.raw
    expected = UnknownModel("OpenAI", model="no-such-model", status=400)
    assert result.error == str(expected)
    assert result.completed is not None and result.completed["title"] == expected.title
    assert "Invalid model name" not in result.raw
    _assert_no_master_key(result.raw, logs())


def test_a_wrong_visitor_key_is_named_as_such(gateway: Gateway, logs: Any) -> None:
    settings = load_settings(_settings_env(gateway, server_key=False), dotenv_path=None)
    running = start_app(settings)
    wrong = canary("litellm-wrong")
    try:
        result = _chat(running, "mock-model", {"X-Provider-Key": wrong})
    finally:
        running.close()
    assert not result.success, result.raw
    assert result.error == str(InvalidKey("OpenAI", status=400))
    assert "No connected db" not in result.raw
    text = logs()
    assert wrong not in result.raw and wrong not in text
    _assert_no_master_key(result.raw, text)


def test_the_master_key_is_in_no_page_the_app_serves(app: tuple[RunningApp, dict[str, str]]) -> None:
    running, headers = app
    for path in ("/", "/config", "/gradio_api/info"):
        response = httpx.get(f"{running.url}{path}", headers=headers, timeout=30)
        _assert_no_master_key(response.text, json.dumps(dict(response.headers)))
