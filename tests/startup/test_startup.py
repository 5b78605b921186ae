"""What `python app.py` says at start-up: one summary line, one clear line per mistake, no advice
that does not apply to this app, and an exposure warning only for what is really exposed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from config.settings import load_settings
from errors import ConfigError
from startup.summary import startup_summary
from tests import REPO
from tests.conftest import canary, free_port, routed_env
from tests.fake_provider import FakeProvider

APP = REPO / "app.py"
# Gradio's own lines that are wrong or unhelpful for this app.
GRADIO_NOISE = ("share=True", "launch()", "frpc", "status.gradio.app", "gradio deploy", "Traceback")


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "PYTEST"))}
    env.update(extra)
    return env


def _run_until(args: list[str], env: dict[str, str], tmp_path: Path, marker: str) -> str:
    """Start app.py, wait until its output contains ``marker`` (or it exits), stop it, return the output."""
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(APP), *args], env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while marker not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(20)
    return log.read_text()


@pytest.mark.slow  # starts app.py in a process of its own
def test_reload_mode_serves_the_app_and_picks_up_a_change(tmp_path: Path) -> None:
    """`gradio app.py`, as the README suggests for development: it serves the page, and an edit
    to the code is served after a moment, with no traceback on the way."""
    from tests.deploy_helpers import copy_tracked

    work = copy_tracked(tmp_path / "app")
    port = free_port()
    log = tmp_path / "reload.log"
    env = _environment(GRADIO_SERVER_PORT=str(port))
    url = f"http://127.0.0.1:{port}/config"
    with log.open("wb") as out:
        # A session of its own: `gradio` runs app.py as a child and exits on SIGTERM without
        # stopping it, so the test stops the whole group, as Ctrl-C in a terminal does.
        process = subprocess.Popen(
            [sys.executable, "-m", "gradio", "app.py"],
            env=env,
            cwd=work,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        assert _wait_for(lambda: _title(url) == "byok-chat", process), log.read_text()
        page = work / "ui" / "page.py"
        edited = page.read_text().replace('title="byok-chat"', 'title="byok-chat, edited"')

        def edit_and_look() -> bool:
            # Written again until it shows: Gradio's watcher notes the files' times only once it
            # has run the app again itself, and an edit before that goes unseen.
            page.write_text(edited)
            time.sleep(2)
            return _title(url) == "byok-chat, edited"

        assert _wait_for(edit_and_look, process), log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    assert _group_ends(process.pid), "app.py outlived gradio"
    said = log.read_text()
    assert "Traceback" not in said and "running on None" not in said, said
    assert f"byok-chat is running on http://127.0.0.1:{port}/" in said
    assert "Stopping: 0 replies in flight were counted." in said  # app.py itself took the SIGTERM


def _group_ends(group: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.killpg(group, signal.SIGKILL)
    return False


def _title(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=5).json().get("title")
    except (httpx.HTTPError, ValueError):
        return None


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


@pytest.mark.slow  # starts app.py in a process of its own
@pytest.mark.parametrize("how", ["--port", "GRADIO_SERVER_PORT"])
def test_a_busy_port_is_one_clear_line_however_it_is_named(tmp_path: Path, how: str) -> None:
    """The app never moves to another port on its own: a proxy in front would miss it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args, extra = (["--port", str(port)], {}) if how == "--port" else ([], {"GRADIO_SERVER_PORT": str(port)})
        done = subprocess.run(
            [sys.executable, str(APP), *args],
            env=_environment(**extra),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0, done.stdout
    assert done.stderr.strip().endswith(
        f"byok-chat: cannot listen on 127.0.0.1 port {port}: it is in use or not allowed. "
        f"Choose another with --port or GRADIO_SERVER_PORT."
    ), done.stderr
    assert "running on" not in done.stdout and "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow  # starts app.py in a process of its own
def test_a_bad_gradio_server_port_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(APP)],
        env=_environment(GRADIO_SERVER_PORT="notaport"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "byok-chat: configuration error: GRADIO_SERVER_PORT must be a port number from 1 to 65535, such as 7860."
    )
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("value", ["10", "99999999", "100.5"])
def test_max_output_tokens_range_is_written_out(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MAX_OUTPUT_TOKENS": value}, dotenv_path=None)
    assert str(caught.value) == "MAX_OUTPUT_TOKENS must be a whole number from 16 to 1,000,000."


def test_the_summary_line_names_keys_quotas_gate_and_client(fake: FakeProvider) -> None:
    # routed_env turns quotas off; the defaults are what an operator gets.
    env = routed_env(fake, GROQ_API_KEY=canary("s"))
    del env["RATE_LIMIT"], env["DAILY_TOKEN_LIMIT"]
    summary = startup_summary(load_settings(env, dotenv_path=None))
    assert summary == (
        "byok-chat: server keys: GROQ_API_KEY | quotas: 10/minute;200/day; 200,000 tokens/day per client on "
        "server keys | uploads: 200 MB per hour, 1,000 MB per day per client | gate: none | "
        "client = connection address | counted in memory:// | spend limits: off"
    )
    spending = startup_summary(
        load_settings({**env, "DAILY_SPEND_LIMIT": "0.25", "SPEND_LIMIT": "5/day;100/month"}, dotenv_path=None)
    )
    assert spending.endswith("| spend limits: $0.25 per day per client; $5.00 per day, $100.00 per month for everyone")
    gated = startup_summary(load_settings(routed_env(fake, ACCESS_CODE="a-long-access-code"), dotenv_path=None))
    assert "server keys: none (visitors bring their own)" in gated
    assert "quotas: off" in gated and "gate: access code" in gated
    no_files = startup_summary(load_settings(routed_env(fake, MAX_FILES_PER_MESSAGE="0"), dotenv_path=None))
    assert "| uploads: off |" in no_files
    unlimited = startup_summary(load_settings(routed_env(fake, UPLOAD_LIMIT_MB="off"), dotenv_path=None))
    assert "| uploads: no limit |" in unlimited


@pytest.mark.slow  # starts app.py in a process of its own
def test_a_failed_share_link_is_one_line_and_no_exposure_is_claimed(tmp_path: Path) -> None:
    server_key = canary("share")
    # A share server address nothing listens on: the link fails the same way with or without a
    # network, and no public link can ever be made from a test.
    env = _environment(GROQ_API_KEY=server_key, GRADIO_SHARE_SERVER_ADDRESS=f"127.0.0.1:{free_port()}")
    port = free_port()
    output = _run_until(["--port", str(port), "--share"], env, tmp_path, "No share link was made")
    assert "byok-chat: server keys: GROQ_API_KEY" in output
    assert "client = connection address" in output
    assert f"byok-chat is running on http://127.0.0.1:{port}/" in output
    assert "No share link was made (no connection to Gradio's share server)." in output
    # Nothing was exposed beyond localhost, so there is nothing to warn about.
    assert "can be spent by anyone" not in output
    assert not [noise for noise in GRADIO_NOISE if noise in output], output
    assert server_key not in output


@pytest.mark.slow  # starts app.py in a process of its own
def test_a_plain_start_gives_no_share_advice(tmp_path: Path) -> None:
    port = free_port()
    output = _run_until(["--port", str(port)], _environment(), tmp_path, "byok-chat is running on")
    assert f"byok-chat is running on http://127.0.0.1:{port}/" in output
    assert "byok-chat: server keys: none" in output
    assert not [noise for noise in GRADIO_NOISE if noise in output], output


def test_check_names_the_spend_limits_the_prices_and_the_models_nobody_priced(fake: FakeProvider) -> None:
    from conversation.service import ChatService
    from startup.check import report
    from web.hflogin import login_plan

    env = routed_env(
        fake, TOGETHER_API_KEY=canary("s"), SPEND_LIMIT="0.5/day", MODEL_PRICES="together:deepseek-ai/DeepSeek-V3=1/2"
    )
    service = ChatService(load_settings(env, dotenv_path=None))
    ok, lines = report(service, login_plan(service.settings, env), host="127.0.0.1", port=7860, share=False)
    text = "\n".join(lines)
    assert ok
    assert "Spend limits on server keys (US dollars, UTC days): $0.50 per day for everyone" in text
    assert "Prices: genai-prices 0." in text and "and MODEL_PRICES (1 entries)" in text
    # Together's Llama is in the table and DeepSeek-V3 has the operator's price; Qwen has neither.
    assert (
        "Models without a price (refused on the server key; price them with MODEL_PRICES): "
        "together:Qwen/Qwen2.5-72B-Instruct-Turbo"
    ) in text


def test_env_example_names_what_protects_a_server_key_and_every_example_loads() -> None:
    text = (REPO / ".env.example").read_text()
    examples = dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", text, re.M))
    for name in ("ACCESS_CODE", "RATE_LIMIT", "DAILY_TOKEN_LIMIT", "TRUSTED_PROXIES"):
        assert name in examples, name
    # Uncommented as written, every example with a value is a valid configuration.
    load_settings({name: value for name, value in examples.items() if value}, dotenv_path=None)


@pytest.mark.slow  # starts app.py in a process of its own
def test_help_says_where_the_configuration_lives() -> None:
    done = subprocess.run([sys.executable, str(APP), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    said = " ".join(done.stdout.split())
    assert "environment variables or a .env file" in said and ".env.example" in said
