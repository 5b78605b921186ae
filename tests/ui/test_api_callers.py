"""Scripts and other API callers: the README's Python snippets run as written, several turns on one
client, the endpoint's API docs, messages worded for whoever called, and a wrong-shaped call.

The app runs in this process against the fake provider; the README's snippets run in a child
Python, talking to it over HTTP like any script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from config.settings import load_settings
from tests import REPO
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider

API_DOCS = REPO / "docs" / "api.md"
# Where the documented snippets expect the app; the tests' app listens on a free port instead.
README_URL = "http://127.0.0.1:7860"
SERVER_KEY = canary("api-groq")
# Gradio's page sends this header with every event; scripts do not.
FROM_PAGE = {"x-gradio-user": "app"}


@pytest.fixture(scope="module")
def api_app(fake: FakeProvider) -> Iterator[RunningApp]:
    """Groq on a server key, every other provider on the caller's own key."""
    running = start_app(load_settings(routed_env(fake, GROQ_API_KEY=SERVER_KEY), dotenv_path=None))
    yield running
    running.close()


def readme_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_DOCS.read_text(encoding="utf-8"), flags=re.S)


def run_snippet(code: str, url: str, tmp_path: Path, **env: str) -> str:
    """Run a README snippet in a fresh Python, changing only the address it connects to."""
    assert README_URL in code
    result = subprocess.run(
        [sys.executable, "-c", code.replace(README_URL, url)],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # gradio_client announces each connection on stdout; the rest is what the snippet printed.
    return "".join(line for line in result.stdout.splitlines(keepends=True) if not line.startswith("Loaded as API"))


def conversations(provider: FakeProvider) -> list[list[tuple[str, str]]]:
    """Each upstream request's turns, without the system prompt."""
    return [
        [(m["role"], m["content"]) for m in request.body["messages"] if m["role"] != "system"]
        for request in provider.chat_requests
    ]


# --- the README, as written ------------------------------------------------------------------


def test_the_readme_shows_three_python_snippets() -> None:
    snippets = readme_snippets()
    assert len(snippets) == 3
    for code in snippets:
        assert "from gradio_client import Client" in code, "every snippet runs on its own, imports included"


def test_readme_server_key_snippet(api_app: RunningApp, provider: FakeProvider, tmp_path: Path) -> None:
    out = run_snippet(readme_snippets()[0], api_app.url, tmp_path)
    assert out == "You said: Hello!\n"
    assert [r.authorization for r in provider.chat_requests] == [f"Bearer {SERVER_KEY}"]
    assert provider.chat_requests[0].path.startswith("/groq/")


def test_readme_own_key_snippet_sends_the_key_in_the_header(
    api_app: RunningApp, provider: FakeProvider, tmp_path: Path
) -> None:
    key = canary("api-readme-visitor")
    out = run_snippet(readme_snippets()[1], api_app.url, tmp_path, OPENAI_API_KEY=key)
    assert out == "You said: Hello!\n"
    (request,) = provider.chat_requests
    assert request.path.startswith("/openai/") and request.authorization == f"Bearer {key}"


def test_readme_multi_turn_snippet_continues_then_starts_over(
    api_app: RunningApp, provider: FakeProvider, tmp_path: Path
) -> None:
    out = run_snippet(readme_snippets()[2], api_app.url, tmp_path)
    assert out.splitlines() == ["You said: My name is Ada.", "You said: What is my name?", "You said: What is my name?"]
    first, second, third = conversations(provider)
    assert first == [("user", "My name is Ada.")]
    assert second == [
        ("user", "My name is Ada."),
        ("assistant", "You said: My name is Ada."),
        ("user", "What is my name?"),
    ]
    assert third == [("user", "What is my name?")], "reset_session must start a new conversation"


def test_a_failed_call_adds_nothing_to_the_clients_conversation(api_app: RunningApp, provider: FakeProvider) -> None:
    client = Client(api_app.url, verbose=False)
    assert client.predict("first", "groq", "m", "", 0.7, 100, api_name="/chat") == "You said: first"
    with pytest.raises(AppError):
        client.predict("this one fails", "groq", "status-503", "", 0.7, 100, api_name="/chat")
    assert client.predict("third", "groq", "m", "", 0.7, 100, api_name="/chat") == "You said: third"
    assert conversations(provider)[-1] == [("user", "first"), ("assistant", "You said: first"), ("user", "third")]


# --- the endpoint's own documentation --------------------------------------------------------


def test_the_api_docs_describe_the_key_header_and_the_conversation(api_app: RunningApp) -> None:
    endpoints = httpx.get(f"{api_app.url}/gradio_api/info").json()["named_endpoints"]
    assert list(endpoints) == ["/chat"]
    description = endpoints["/chat"]["description"]
    for words in ("X-Provider-Key", "X-Access-Code", "reset_session()", "provider id"):
        assert words in description
    parameters = [p["parameter_name"] for p in endpoints["/chat"]["parameters"]]
    assert parameters == ["message", "provider_id", "model", "system_prompt", "temperature", "max_tokens"]


# --- messages for whoever called -------------------------------------------------------------


def test_a_script_without_a_key_is_told_about_the_header_and_the_page_about_the_key_box(
    api_app: RunningApp, provider: FakeProvider
) -> None:
    cfg = raw.config(api_app.url)
    data = raw.chat_data(cfg, "hi", "openai", "m")

    script = raw.run_event(api_app.url, raw.fn_index(cfg, "chat"), data)
    page = raw.run_event(api_app.url, raw.fn_index(cfg, "chat"), data, headers=FROM_PAGE)

    assert not script.success
    assert script.error is not None and "X-Provider-Key header" in script.error and "key box" not in script.error
    # The page gets the error as one titled bubble in the chat, worded for the page.
    assert page.success and page.output is not None
    bubble = page.output[0]
    assert bubble["metadata"]["title"] == "⚠ API key needed"
    assert "Enter your OpenAI API key in the key box" in bubble["content"]
    assert "X-Provider-Key" not in bubble["content"]
    assert provider.chat_requests == []


def test_quota_advice_only_where_the_caller_can_act_on_it(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    """On a server key the page shows no key box, so only a script is told to bring its own key."""
    running = launch(settings_for(GROQ_API_KEY=canary("api-quota"), RATE_LIMIT="1/minute"))
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")
    data = raw.chat_data(cfg, "hi", "groq", "m")
    assert raw.run_event(running.url, index, data).success

    script = raw.run_event(running.url, index, data)
    page = raw.run_event(running.url, index, data, headers=FROM_PAGE)

    assert script.error is not None and "your requests (1 per minute)" in script.error
    assert "send your own API key in the X-Provider-Key header" in script.error
    assert page.output is not None
    bubble = page.output[0]
    assert bubble["metadata"]["title"] == "⚠ Usage limit reached"
    assert "your requests (1 per minute)" in bubble["content"] and "Try again in" in bubble["content"]
    assert "own API key" not in bubble["content"] and "X-Provider-Key" not in bubble["content"]
    assert len(provider.chat_requests) == 1


# --- wrong-shaped calls ----------------------------------------------------------------------


def test_passing_history_gets_one_clear_message_and_no_traceback(
    api_app: RunningApp, provider: FakeProvider, capfd: pytest.CaptureFixture[str]
) -> None:
    client = Client(api_app.url, verbose=False)
    capfd.readouterr()
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}]

    with pytest.raises(AppError) as caught:
        client.predict("hi", history, "groq", "m", "", 0.7, 100, api_name="/chat")

    message = str(caught.value)
    assert message.startswith("The second input must be a provider id (openai, ")
    assert "History is not an input" in message
    assert "not in the list of choices" not in message
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert provider.chat_requests == []
    # The same client goes on working.
    assert client.predict("hi", "groq", "m", "", 0.7, 100, api_name="/chat") == "You said: hi"


def test_a_script_keeps_english_unless_it_asks_for_another_language(api_app: RunningApp) -> None:
    cfg = raw.config(api_app.url)
    data = raw.chat_data(cfg, "hi", "openai", "m")
    chat = raw.fn_index(cfg, "chat")

    english = raw.run_event(api_app.url, chat, data)
    japanese = raw.run_event(api_app.url, chat, data, headers={"accept-language": "ja-JP,ja;q=0.9"})
    page = raw.run_event(api_app.url, chat, data, headers={**FROM_PAGE, "accept-language": "de-DE"})

    assert english.error == (
        "Send your OpenAI API key in the X-Provider-Key header, or ask the operator to set OPENAI_API_KEY "
        "on the server."
    )
    assert japanese.error is not None
    assert (
        japanese.error.startswith("OpenAI のAPIキーを X-Provider-Key ヘッダーで送る") and "Send" not in japanese.error
    )
    assert page.output is not None
    assert page.output[0]["metadata"]["title"] == "⚠ API-Schlüssel erforderlich"
    assert "Geben Sie Ihren OpenAI-API-Schlüssel in das Schlüsselfeld ein" in page.output[0]["content"]
