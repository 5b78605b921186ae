"""Hunt for the server key (and a visitor's key) everywhere the app writes or answers: public pages,
the queue's event streams, logs, Gradio's temp dir and the working directory."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import load_settings
from tests.conftest import _CLEARED, RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider
from tests.gradio_raw import Visit, open_page

SERVER_KEY = canary("leak-server")
VISITOR_KEY = canary("leak-visitor")
KEYS = (SERVER_KEY, VISITOR_KEY)


@dataclasses.dataclass
class Target:
    app: RunningApp
    temp_dir: Path
    work_dir: Path
    started: float


@pytest.fixture(scope="module")
def target(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Groq on the server's key, Mistral on the visitor's, with Gradio's temp dir and the working
    directory pointed at fresh folders so everything the app writes can be searched."""
    temp_dir = tmp_path_factory.mktemp("gradio-temp")
    work_dir = tmp_path_factory.mktemp("work")
    started = time.time()
    settings = load_settings(routed_env(fake, GROQ_API_KEY=SERVER_KEY), dotenv_path=None)
    settings = dataclasses.replace(settings, max_retries=0)
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if _CLEARED.fullmatch(name):
                mp.delenv(name)
        mp.chdir(work_dir)
        # Gradio reads GRADIO_TEMP_DIR when a component is built and when the server app starts,
        # so it must be set before build_demo and launch (checked in the test below).
        mp.setenv("GRADIO_TEMP_DIR", str(temp_dir))
        running = start_app(settings)
    try:
        yield Target(app=running, temp_dir=temp_dir, work_dir=work_dir, started=started)
    finally:
        running.close()


def raw_event(
    target: Target, api_name: str, data: list[Any] | dict[str, Any], visit: Visit
) -> tuple[str, dict[str, Any]]:
    """Join the queue and read the whole server-sent event stream: (raw text, completion message).
    ``data`` is the input list, or values by the inputs' elem_id (the rest sent as null)."""
    session_hash = visit.session_hash
    config = httpx.get(f"{target.app.url}/config").json()
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    if isinstance(data, dict):
        elem_ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
        data = [data.get(elem_ids.get(i)) for i in dependency["inputs"]]
    payload = {"data": data, "fn_index": dependency["id"], "session_hash": session_hash, "event_data": None}
    with httpx.Client(base_url=target.app.url, timeout=30, headers=visit.headers) as http:
        assert http.post("/gradio_api/queue/join", json=payload).status_code == 200
        raw, done = "", {}
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                raw += line + "\n"
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") in ("process_completed", "unexpected_error"):
                        done = message
                        break
    return raw, done


def capture(target: Target, visit: Visit) -> tuple[str, dict[str, Any]]:
    """The page's load event, then the visitor's key typed into the box, as a browser does it."""
    raw_event(target, "on_load", {"provider": "groq"}, visit)
    return raw_event(target, "capture_key", {"key-box": VISITOR_KEY, "provider": "mistral"}, visit)


def raw_chat(target: Target, visit: Visit, provider_id: str, model: str) -> tuple[str, dict[str, Any]]:
    data = ["hello", [], provider_id, model, "Be brief.", 0.5, 100, None]
    return raw_event(target, "chat", data, visit)


def assert_no_key(text: str, where: str) -> None:
    for key in KEYS:
        assert key not in text, f"a key is in {where}"


def files_under(root: Path, since: float = 0.0) -> list[Path]:
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            try:
                if path.stat().st_mtime >= since:
                    found.append(path)
            except OSError:
                continue  # another process's temp file vanished
    return found


def assert_no_key_in_files(paths: list[Path]) -> None:
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for key in KEYS:
            assert key.encode() not in data, f"a key is in {path}"


# --- pages and API description ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/config", "/gradio_api/info", "/gradio_api/info?all_endpoints=true", "/gradio_api/openapi.json"],
)
def test_public_pages_hold_no_key(target: Target, path: str) -> None:
    response = httpx.get(target.app.url + path)
    if path != "/gradio_api/openapi.json":  # not every Gradio build serves it; any content is searched
        assert response.status_code == 200
        assert len(response.text) > 100
    assert_no_key(response.text, path)


def test_config_has_no_hidden_component_holding_a_key(target: Target) -> None:
    config = httpx.get(f"{target.app.url}/config").json()
    values = [c.get("props", {}).get("value") for c in config["components"]]
    assert "" in values  # the key box is there, empty
    for value in values:
        assert not (isinstance(value, str) and value.startswith("sk-"))


# --- event streams, logs and files -----------------------------------------------------------


def test_event_streams_of_normal_and_failing_chats_hold_no_key(
    target: Target, provider: FakeProvider, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    session = open_page(target.app.url)
    with caplog.at_level("DEBUG"):
        captured, done = capture(target, session)
        assert done["success"]
        streams = {
            "capture": captured,
            "server ok": raw_chat(target, session, "groq", "m"),
            "server echo": raw_chat(target, session, "groq", "echo-key-401"),
            "server cutoff": raw_chat(target, session, "groq", "cutoff"),
            "visitor ok": raw_chat(target, session, "mistral", "m"),
            "visitor echo": raw_chat(target, session, "mistral", "echo-key-401"),
        }
    for name in ("server ok", "visitor ok"):
        assert streams[name][1]["success"], streams[name][0]
        assert "You said: hello" in streams[name][0]
    assert streams["server echo"][1]["title"] == "Server key rejected", streams["server echo"][0]
    assert streams["visitor echo"][1]["title"] == "Invalid API key", streams["visitor echo"][0]
    assert "Reply cut off" in streams["server cutoff"][0]
    # Both keys did reach the provider (which echoed them back), so the searches below mean something.
    assert {r.authorization for r in provider.chat_requests} == {f"Bearer {SERVER_KEY}", f"Bearer {VISITOR_KEY}"}
    for name, stream in streams.items():
        assert_no_key(stream[0] if isinstance(stream, tuple) else stream, f"the {name} event stream")
    assert "error=InvalidKey" in caplog.text
    assert_no_key(caplog.text, "the captured log")
    out, err = capfd.readouterr()
    assert_no_key(out + err, "stdout/stderr")


def test_temp_dir_deep_links_and_working_dir_hold_no_key(target: Target, tmp_path: Path) -> None:
    # Gradio really uses the folder we gave it, so the search below covers what it writes.
    assert Path(target.app.demo.server_app.uploaded_file_dir) == target.temp_dir
    session = open_page(target.app.url)
    capture(target, session)
    raw_chat(target, session, "mistral", "m")
    raw_chat(target, session, "groq", "echo-key-401")
    # The app offers no deep links: Gradio's snapshot route would write the session's values to disk.
    link = httpx.get(f"{target.app.url}/gradio_api/deep_link", params={"session_hash": session.session_hash})
    assert link.status_code == 404
    assert httpx.get(f"{target.app.url}/config", params={"deep_link": "x"}).status_code == 404

    temp_files = files_under(target.temp_dir)
    assert not any(p.name == "state.json" for p in temp_files)
    assert_no_key_in_files(temp_files)
    assert_no_key_in_files(files_under(target.work_dir))
    assert_no_key_in_files(files_under(tmp_path))  # this test's working directory
    # Gradio's default temp dir (read at import time by some modules): whatever changed meanwhile.
    default_temp = Path(tempfile.gettempdir()) / "gradio"
    if default_temp.is_dir():
        assert_no_key_in_files(files_under(default_temp, since=target.started))


def test_session_memory_after_use_holds_no_plain_key(target: Target) -> None:
    session = open_page(target.app.url)
    capture(target, session)
    raw_chat(target, session, "mistral", "m")
    state = target.app.demo.state_holder[session.session_hash]
    # Component values as Gradio would snapshot them; the key lives only inside a Secret in State.
    assert_no_key(json.dumps(state.config_values, default=str), "the session's component values")
    assert_no_key(json.dumps(list(state.components), default=str), "the session's components")


def test_no_route_shows_a_key_after_keys_were_used(target: Target) -> None:
    session = open_page(target.app.url)
    capture(target, session)
    raw_chat(target, session, "mistral", "m")
    raw_chat(target, session, "groq", "echo-key-401")
    routes = [
        "/",
        "/config",
        f"/config?session_hash={session.session_hash}",
        "/gradio_api/info?all_endpoints=true",
        "/gradio_api/runs",
        "/gradio_api/run-history/records",
        "/gradio_api/app_id",
        "/monitoring/summary",
        "/manifest.json",
    ]
    for route in routes:
        assert_no_key(httpx.get(target.app.url + route).text, route)
