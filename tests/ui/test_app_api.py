"""The running app over HTTP, as gradio_client and raw queue callers use it: which key goes where in
each key mode, the key box's private capture event, and every failure as the user sees it."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.text import CUT_OFF_MARK
from providers.chat import NO_KEY_PLACEHOLDER
from tests.conftest import _CLEARED, RunningApp, canary, free_port, routed_env, start_app
from tests.fake_provider import FakeProvider
from tests.gradio_raw import Visit, open_page

CHAT_PATH = "/{}/v1/chat/completions"
SERVER_KEY = canary("server-groq")
OPENAI_SERVER_KEY = canary("server-openai")
DEEPSEEK_SERVER_KEY = canary("server-deepseek")


# --- launching apps once per module ----------------------------------------------------------


@pytest.fixture(scope="module")
def app_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Importing app.py loads settings from the environment and the working directory: do it
    # with neither holding anything from the developer's shell.
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if _CLEARED.fullmatch(name):
                mp.delenv(name)
        mp.chdir(tmp_path_factory.mktemp("import"))
        import app
    return app


@contextmanager
def running(app_module: Any, settings: Settings) -> Iterator[RunningApp]:
    # app_module has imported app.py in a clean environment; start_app reuses that import.
    started = start_app(settings)
    try:
        yield started
    finally:
        started.close()


def settings_of(fake: FakeProvider, **env: str) -> Settings:
    return load_settings(routed_env(fake, **env), dotenv_path=None)


@pytest.fixture(scope="module")
def server_app(app_module: Any, fake: FakeProvider) -> Iterator[RunningApp]:
    """Server-key mode: only GROQ_API_KEY is set."""
    with running(app_module, settings_of(fake, GROQ_API_KEY=SERVER_KEY)) as running_app:
        yield running_app


@pytest.fixture(scope="module")
def byo_app(app_module: Any, fake: FakeProvider) -> Iterator[RunningApp]:
    """Bring-your-own-key mode: no server keys at all."""
    with running(app_module, settings_of(fake)) as running_app:
        yield running_app


@pytest.fixture(scope="module")
def mixed_app(app_module: Any, fake: FakeProvider) -> Iterator[RunningApp]:
    """OpenAI on the server's key, every other provider on the visitor's."""
    with running(app_module, settings_of(fake, OPENAI_API_KEY=OPENAI_SERVER_KEY)) as running_app:
        yield running_app


@pytest.fixture(scope="module")
def error_app(app_module: Any, fake: FakeProvider) -> Iterator[RunningApp]:
    """Server keys, the shortest timeout, no retries (so failures are quick), DeepSeek unreachable."""
    env = {
        "GROQ_API_KEY": SERVER_KEY,
        "DEEPSEEK_API_KEY": DEEPSEEK_SERVER_KEY,
        "DEEPSEEK_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "REQUEST_TIMEOUT": "1",
    }
    settings = dataclasses.replace(settings_of(fake, **env), max_retries=0)
    with running(app_module, settings) as running_app:
        yield running_app


# --- helpers ---------------------------------------------------------------------------------


@functools.cache
def _keyless_client(url: str) -> Client:
    return Client(url, verbose=False)


def client_for(running_app: RunningApp, key: str | None = None) -> Client:
    # A client without a key header carries nothing per test, so one per app is enough.
    if key is None:
        return _keyless_client(running_app.url)
    return Client(running_app.url, headers={"X-Provider-Key": key}, verbose=False)


def chat(
    running_app: RunningApp, provider_id: str, model: str = "m", *, key: str | None = None, message: str = "hello"
) -> str:
    return client_for(running_app, key).predict(message, provider_id, model, "Be brief.", 0.5, 100, api_name="/chat")


def chat_error(running_app: RunningApp, provider_id: str, model: str = "m", *, key: str | None = None) -> AppError:
    with pytest.raises(AppError) as caught:
        chat(running_app, provider_id, model, key=key)
    return caught.value


def sent(fake: FakeProvider) -> list[tuple[str, str | None]]:
    """Every request the provider side saw: where it went and with which Authorization."""
    return [(r.path, r.authorization) for r in fake.requests]


def to(provider_id: str, key: str) -> tuple[str, str]:
    return CHAT_PATH.format(provider_id), f"Bearer {key}"


@dataclasses.dataclass
class Event:
    raw: str
    messages: list[dict[str, Any]]

    @property
    def completed(self) -> dict[str, Any]:
        return next(m for m in self.messages if m.get("msg") == "process_completed")


def event_payload(running_app: RunningApp, api_name: str, data: list[Any] | dict[str, Any]) -> tuple[int, list[Any]]:
    """The event's fn_index and its input list. ``data`` is either the list itself or values by the
    inputs' elem_id (anything else is sent as null, as the browser does for State)."""
    config = httpx.get(f"{running_app.url}/config").json()
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    if isinstance(data, list):
        return dependency["id"], data
    elem_ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    return dependency["id"], [data.get(elem_ids.get(i)) for i in dependency["inputs"]]


def raw_event(
    running_app: RunningApp, api_name: str, data: list[Any] | dict[str, Any], session: str | Visit, **headers: str
) -> Event:
    """Join the queue as a browser does and read the event's server-sent stream to the end. A
    :class:`Visit` sends its page's cookie; a bare session hash is a script without one."""
    session_hash = session.session_hash if isinstance(session, Visit) else session
    headers = {**(session.headers if isinstance(session, Visit) else {}), **headers}
    index, inputs = event_payload(running_app, api_name, data)
    payload = {"data": inputs, "fn_index": index, "session_hash": session_hash, "event_data": None, "trigger_id": None}
    with httpx.Client(base_url=running_app.url, timeout=30, headers=headers) as http:
        joined = http.post("/gradio_api/queue/join", json=payload)
        assert joined.status_code == 200, joined.text
        raw, messages = "", []
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                raw += line + "\n"
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
                    if messages[-1].get("msg") in ("process_completed", "unexpected_error"):
                        break
    return Event(raw=raw, messages=messages)


def raw_chat(running_app: RunningApp, session: str | Visit, provider_id: str, model: str = "m") -> Event:
    # message, history, provider, model, system prompt, temperature, max tokens, session keys
    return raw_event(running_app, "chat", ["hello", [], provider_id, model, "Be brief.", 0.5, 100, None], session)


def capture(running_app: RunningApp, session: str | Visit, key: str, provider_id: str = "groq") -> Event:
    return raw_event(running_app, "capture_key", {"key-box": key, "provider": provider_id}, session)


def page_load(running_app: RunningApp, visit: Visit, provider_id: str = "groq") -> Event:
    """The page's load event, which a browser always runs before anything else."""
    return raw_event(running_app, "on_load", {"provider": provider_id}, visit)


def holds(value: object, key: str) -> bool:
    """True if ``key`` appears anywhere in ``value``, Secrets revealed: stricter than any serializer."""
    text = json.dumps(value, default=lambda o: o.reveal() if isinstance(o, Secret) else repr(o))
    return key in text


# --- server-key mode -------------------------------------------------------------------------


def test_server_mode_works_without_a_key_and_sends_exactly_the_server_key(
    server_app: RunningApp, provider: FakeProvider
) -> None:
    assert chat(server_app, "groq", message="hi there") == "You said: hi there"
    assert sent(provider) == [to("groq", SERVER_KEY)]


def test_server_mode_other_providers_still_ask_for_a_key(server_app: RunningApp, provider: FakeProvider) -> None:
    for provider_id, label in (("openai", "OpenAI"), ("mistral", "Mistral")):
        error = chat_error(server_app, provider_id)
        assert error.title == "API key needed"
        assert label in str(error)
    assert sent(provider) == []


def test_server_mode_a_visitor_key_is_used_instead_of_the_servers(
    server_app: RunningApp, provider: FakeProvider
) -> None:
    visitor = canary("visitor-over-server")
    chat(server_app, "groq", key=visitor)
    assert sent(provider) == [to("groq", visitor)]


# --- bring-your-own-key mode -----------------------------------------------------------------


def test_byo_key_header_reaches_only_the_chosen_provider(byo_app: RunningApp, provider: FakeProvider) -> None:
    groq_key, mistral_key = canary("byo-groq"), canary("byo-mistral")
    assert chat(byo_app, "groq", key=groq_key, message="one") == "You said: one"
    assert chat(byo_app, "mistral", key=mistral_key, message="two") == "You said: two"
    assert sent(provider) == [to("groq", groq_key), to("mistral", mistral_key)]


def test_byo_without_a_key_sends_nothing(byo_app: RunningApp, provider: FakeProvider) -> None:
    error = chat_error(byo_app, "groq")
    assert error.title == "API key needed"
    # A script has no key box: it is told about the header.
    assert "Send your Groq API key in the X-Provider-Key header" in str(error)
    assert "key box" not in str(error)
    assert sent(provider) == []


@pytest.mark.parametrize("bad", ["zq7k", "has space inside-1234", "x" * 600], ids=["short", "space", "long"])
def test_byo_malformed_header_key_is_refused_before_any_request(
    byo_app: RunningApp, provider: FakeProvider, bad: str
) -> None:
    error = chat_error(byo_app, "groq", key=bad)
    assert error.title == "Request refused"
    assert bad not in str(error)
    assert sent(provider) == []


# --- mixed mode and the fallback trap --------------------------------------------------------


def test_mixed_mode_each_key_reaches_its_own_base_url_and_no_other(
    mixed_app: RunningApp, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK would pick this up for any client built without an explicit key.
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SERVER_KEY)
    groq_key = canary("mixed-groq")
    chat(mixed_app, "openai")
    chat(mixed_app, "groq", key=groq_key)
    chat(mixed_app, "ollama")
    assert sent(provider) == [
        to("openai", OPENAI_SERVER_KEY),
        to("groq", groq_key),
        to("ollama", NO_KEY_PLACEHOLDER),
    ]


def test_openai_server_key_never_falls_back_to_another_provider(
    mixed_app: RunningApp, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SERVER_KEY)
    for provider_id in ("groq", "anthropic", "openrouter", "hf"):
        error = chat_error(mixed_app, provider_id)
        assert error.title == "API key needed"
        assert OPENAI_SERVER_KEY not in str(error)
    assert sent(provider) == []


@pytest.mark.parametrize("local", ["ollama", "lmstudio", "vllm", "llamacpp"])
def test_local_providers_get_the_placeholder(
    mixed_app: RunningApp, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, local: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SERVER_KEY)
    chat(mixed_app, local)
    assert sent(provider) == [to(local, NO_KEY_PLACEHOLDER)]


def test_openai_org_and_project_never_reach_other_providers(
    mixed_app: RunningApp, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-canary-4242")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-canary-4242")
    chat(mixed_app, "groq", key=canary("org"))
    chat(mixed_app, "ollama")
    assert len(provider.requests) == 2
    for request in provider.requests:
        assert not request.path.startswith("/openai/")
        assert "openai-organization" not in request.headers
        assert "openai-project" not in request.headers
        assert "canary-4242" not in json.dumps(request.headers)


def test_api_callers_cannot_pick_a_provider_outside_the_table(mixed_app: RunningApp, provider: FakeProvider) -> None:
    with pytest.raises(AppError) as caught:
        chat(mixed_app, f"http://127.0.0.1:{provider.port}/evil/v1")
    assert str(caught.value).startswith("The second input must be a provider id (openai, ")
    assert sent(provider) == []


# --- the key box's private capture event -----------------------------------------------------


def test_key_box_capture_leaves_no_copy_after_load_type_chat_switch_chat(
    byo_app: RunningApp, provider: FakeProvider
) -> None:
    """The order a browser uses: the page's load event first, then the key, then chats and a switch.
    Gradio stores every event input per session; after the load event it stores them under a
    replacement component, which once kept the typed key."""
    visit, key = open_page(byo_app.url), canary("box")
    assert page_load(byo_app, visit).completed["success"]
    captured = capture(byo_app, visit, key)
    assert captured.completed["success"], captured.raw
    assert key not in captured.raw
    status = captured.completed["output"]["data"][0]
    assert "set for this browser session only" in status

    first = raw_chat(byo_app, visit, "groq")
    switched = raw_event(byo_app, "switch_provider", {"provider": "mistral"}, visit)
    assert switched.completed["success"], switched.raw
    second = raw_chat(byo_app, visit, "groq")
    for event in (first, second):
        assert event.completed["output"]["data"][0] == "You said: hello", event.raw
        assert key not in event.raw
    assert sent(provider) == [to("groq", key), to("groq", key)]

    # Gradio's per-session copies of component values: the box holds nothing.
    state = byo_app.demo.state_holder[visit.session_hash]
    assert not holds(state.config_values, key)
    assert not holds(list(state.components), key)
    boxes = [c for c in state.config_values.values() if c and c.get("props", {}).get("elem_id") == "key-box"]
    assert boxes and all(b["props"]["value"] == "" for b in boxes)

    # No deep links: nothing written to disk, nothing served back.
    link = httpx.get(f"{byo_app.url}/gradio_api/deep_link", params={"session_hash": visit.session_hash})
    assert link.status_code == 404
    assert httpx.get(f"{byo_app.url}/config", params={"deep_link": "anything"}).status_code == 404
    temp_dir = Path(byo_app.demo.server_app.uploaded_file_dir)
    for path in temp_dir.rglob("*"):
        assert not path.is_file() or key.encode() not in path.read_bytes(), path


def test_a_script_without_the_page_cookie_cannot_store_a_key(byo_app: RunningApp, provider: FakeProvider) -> None:
    """A session hash alone must never hold a key: scripts send X-Provider-Key with each call."""
    session, key = secrets.token_hex(8), canary("box-script")
    captured = capture(byo_app, session, key)
    assert captured.completed["success"], captured.raw
    status = captured.completed["output"]["data"][0]  # the key status under the box says why
    assert status.startswith("⚠ Your key was not kept"), captured.raw
    assert raw_chat(byo_app, session, "groq").completed["title"] == "API key needed"
    assert sent(provider) == []
    assert not holds(byo_app.demo.state_holder[session].config_values, key)


def test_a_captured_key_is_invisible_to_other_sessions_and_providers(
    byo_app: RunningApp, provider: FakeProvider
) -> None:
    mine, key = open_page(byo_app.url), canary("box-isolated")
    theirs = open_page(byo_app.url)
    assert capture(byo_app, mine, key).completed["success"]
    other_session = raw_chat(byo_app, theirs, "groq")
    other_provider = raw_chat(byo_app, mine, "mistral")
    for event in (other_session, other_provider):
        assert not event.completed["success"]
        assert event.completed["title"] == "API key needed"
    # gradio_client sessions are separate sessions too.
    assert chat_error(byo_app, "groq").title == "API key needed"
    assert sent(provider) == []


def test_forget_drops_the_key_for_the_next_chat(byo_app: RunningApp, provider: FakeProvider) -> None:
    visit, key = open_page(byo_app.url), canary("box-forget")
    capture(byo_app, visit, key)
    forgot = raw_event(byo_app, "forget_key", {"provider": "groq"}, visit)
    assert forgot.completed["success"], forgot.raw
    after = raw_chat(byo_app, visit, "groq")
    assert after.completed["title"] == "API key needed"
    assert sent(provider) == []


def test_a_malformed_key_in_the_box_is_not_stored(byo_app: RunningApp, provider: FakeProvider) -> None:
    visit = open_page(byo_app.url)
    bad = "sk-canary-with space-0123456789"
    captured = capture(byo_app, visit, bad)
    assert captured.completed["success"]
    status = captured.completed["output"]["data"][0]  # the key status under the box says why
    assert status.startswith("⚠ That API key contains spaces"), captured.raw
    assert bad not in captured.raw
    assert not holds(byo_app.demo.state_holder[visit.session_hash].config_values, bad)
    assert raw_chat(byo_app, visit, "groq").completed["title"] == "API key needed"
    assert sent(provider) == []


def test_a_failed_capture_leaves_no_key_in_session_values(byo_app: RunningApp) -> None:
    visit, key = open_page(byo_app.url), canary("box-failed")
    failed = capture(byo_app, visit, key, provider_id="not-a-provider")
    assert not failed.completed["success"]
    assert key not in failed.raw
    assert not holds(byo_app.demo.state_holder[visit.session_hash].config_values, key)


def test_the_api_docs_describe_message_and_model_for_a_caller(server_app: RunningApp) -> None:
    info = httpx.get(f"{server_app.url}/gradio_api/info").json()
    message, _, model, *_ = info["named_endpoints"]["/chat"]["parameters"]
    assert message["label"] == "Message" and message["parameter_name"] == "message"
    said = message["python_type"]["description"]
    assert said.startswith("Your message") and "boundary" not in said and "Textbox" not in said, said
    # Any model id works, so the docs do not list a closed set.
    assert model["python_type"]["type"] == "str", model
    assert "Any model id" in model["python_type"]["description"]


def test_capture_event_is_private(byo_app: RunningApp) -> None:
    info = httpx.get(f"{byo_app.url}/gradio_api/info", params={"all_endpoints": "true"}).json()
    names = set(info.get("named_endpoints", {})) | {str(k) for k in info.get("unnamed_endpoints", {})}
    assert "/chat" in names
    assert not any("key" in name for name in names)


# --- failures as the user sees them ----------------------------------------------------------

APP_ERRORS = [
    # Groq runs on the server's key here: only the operator can fix a refused key.
    ("status-401", "Server key rejected", "rejected this server's API key (HTTP 401)"),
    ("status-403", "Server key rejected", "rejected this server's API key (HTTP 403)"),
    ("status-429", "Rate limited", "Wait a moment and try again."),
    ("status-429-retry-7", "Rate limited", "Try again in 7 seconds."),
    ("insufficient-quota", "Out of credit", "out of credit"),
    ("status-404", "Unknown model", "does not know the model"),
    ("status-500", "Provider unavailable", "server error (HTTP 500)"),
    ("nonjson-503", "Provider unavailable", "server error (HTTP 503)"),
    ("hang", "Timed out", "did not answer in time"),
    ("empty", "Empty reply", "without sending any text"),
]


@pytest.mark.parametrize(("model", "title", "words"), APP_ERRORS, ids=[e[0] for e in APP_ERRORS])
def test_provider_failures_reach_the_user_as_fixed_messages(
    error_app: RunningApp, provider: FakeProvider, model: str, title: str, words: str
) -> None:
    error = chat_error(error_app, "groq", model)
    assert error.title == title
    assert words in str(error)
    assert "fake" not in str(error)
    assert SERVER_KEY not in str(error)
    assert sent(provider) == [to("groq", SERVER_KEY)]


def test_connection_refused_reaches_the_user(error_app: RunningApp, provider: FakeProvider) -> None:
    error = chat_error(error_app, "deepseek")
    assert error.title == "Cannot connect"
    assert "Could not connect to DeepSeek" in str(error)
    assert sent(provider) == []


def test_cut_off_reply_is_kept_and_marked(error_app: RunningApp) -> None:
    updates = list(client_for(error_app).submit("keep me", "groq", "cutoff", "", 0.5, 100, api_name="/chat"))
    assert updates[-1] == "You said: keep me" + CUT_OFF_MARK
    assert updates[0].startswith("You")


def test_a_reply_that_times_out_mid_stream_says_so_and_after_how_long(error_app: RunningApp) -> None:
    # The fake sends three words, then nothing: REQUEST_TIMEOUT (1 s here) ends the reply.
    updates = list(client_for(error_app).submit("keep me", "groq", "stall", "", 0.5, 100, api_name="/chat"))
    assert updates[-1] == "word0 word1 word2 \n\n*[Timed out: no text for 1 second; what arrived is kept.]*"


def test_a_refused_key_names_whose_key_it_was(error_app: RunningApp, provider: FakeProvider) -> None:
    """On the server's key the visitor can do nothing (no key box): say it is the operator's. A
    script may send its own key instead; a refused key of one's own is one's own to check."""
    server = chat_error(error_app, "groq", "status-401")
    assert "Nothing on your side can fix that" in str(server) and "X-Provider-Key" in str(server)
    assert "enter it again" not in str(server)
    own = chat_error(error_app, "groq", "status-401", key=canary("own-401"))
    assert own.title == "Invalid API key" and "enter it again" in str(own)


@pytest.mark.parametrize("whose", ["server", "visitor"])
def test_provider_echoing_the_key_leaks_it_nowhere(
    error_app: RunningApp,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    whose: str,
) -> None:
    key = SERVER_KEY if whose == "server" else canary("echo-visitor")
    with caplog.at_level("DEBUG"):
        error = chat_error(error_app, "groq", "echo-key-401", key=None if whose == "server" else key)
    assert error.title == ("Server key rejected" if whose == "server" else "Invalid API key")
    assert key not in str(error) and key not in repr(vars(error))
    assert sent(provider) == [to("groq", key)]  # the fake did receive it, and echoed it
    assert "error=InvalidKey" in caplog.text  # the failure was logged, without the key
    out, err = capfd.readouterr()
    assert key not in caplog.text
    assert key not in out + err
