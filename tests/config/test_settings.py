"""The operator's configuration: every variable, .env handling, and refusals that never quote a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings, load_settings
from errors import ConfigError
from providers import CUSTOM_ID, PROVIDERS
from tests import REPO
from tests.conftest import canary, free_port

APP = REPO / "app.py"


def load(**env: str) -> Settings:
    return load_settings(env, dotenv_path=None)


# --- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.id)
def test_each_key_variable_makes_that_provider_a_server_key_provider(provider) -> None:
    assert provider.key_env is not None
    key = canary(provider.id)
    settings = load(**{provider.key_env: key})
    secret = settings.server_key(provider.id)
    assert secret is not None and secret.reveal() == key
    # Only that provider: every other one still has no server key.
    assert [pid for pid in settings.server_keys] == [provider.id]
    assert not settings.needs_visitor_key(settings.provider(provider.id))
    # The one working provider is what a visitor lands on.
    assert settings.default_provider == provider.id
    # The key never shows in the settings' repr (it would in a debug log).
    assert key not in repr(settings)


def test_hugging_face_reads_hf_token() -> None:
    key = canary("hf")
    settings = load(HF_TOKEN=key)
    assert settings.server_key("hf").reveal() == key


def test_no_keys_means_every_cloud_provider_asks_the_visitor() -> None:
    settings = load()
    assert settings.server_keys == {}
    for provider in settings.providers:
        assert settings.needs_visitor_key(provider) is provider.needs_key
    # Local servers need no key at all.
    assert {p.id for p in settings.providers if not p.needs_key} == {"ollama", "lmstudio", "vllm", "llamacpp"}


def test_key_whitespace_around_the_value_is_trimmed() -> None:
    key = canary("trim")
    assert load(GROQ_API_KEY=f"  {key}\n").server_key("groq").reveal() == key


def test_empty_key_variable_means_no_server_key() -> None:
    assert load(GROQ_API_KEY="   ").server_key("groq") is None


# --- base URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.id)
def test_each_base_url_variable_overrides_only_its_provider(provider) -> None:
    url = f"https://gateway.example.com/{provider.id}/v1"
    settings = load(**{provider.base_url_env: url})
    for configured, original in zip(settings.providers, PROVIDERS, strict=True):
        expected = url if configured.id == provider.id else original.base_url
        assert configured.base_url == expected


def test_base_url_names_follow_the_provider_id() -> None:
    assert {p.id: p.base_url_env for p in PROVIDERS}["openai"] == "OPENAI_BASE_URL"
    assert {p.id: p.base_url_env for p in PROVIDERS}["hf"] == "HF_BASE_URL"


# --- custom endpoint -------------------------------------------------------------------------


def test_custom_endpoint_with_key_and_models() -> None:
    key = canary("custom")
    settings = load(
        CUSTOM_BASE_URL="https://llm.example.com/v1",
        CUSTOM_API_KEY=key,
        CUSTOM_MODELS=" model-a , model-b,,",
        CUSTOM_LABEL="Our gateway",
    )
    custom = settings.provider(CUSTOM_ID)
    assert custom is not None
    assert custom.base_url == "https://llm.example.com/v1"
    assert custom.models == ("model-a", "model-b")
    assert custom.default_model == "model-a"
    assert custom.label == "Our gateway"
    assert settings.server_key(CUSTOM_ID).reveal() == key
    assert settings.providers[-1] is custom


def test_custom_endpoint_without_key_asks_the_visitor_or_needs_none() -> None:
    settings = load(CUSTOM_BASE_URL="http://10.0.0.5:8000/v1")
    custom = settings.provider(CUSTOM_ID)
    assert custom.models == ("default",)
    assert settings.needs_visitor_key(custom)
    local = load(CUSTOM_BASE_URL="http://10.0.0.5:8000/v1", CUSTOM_NEEDS_KEY="false")
    assert not local.needs_visitor_key(local.provider(CUSTOM_ID))


def test_no_custom_endpoint_unless_configured() -> None:
    assert load().provider(CUSTOM_ID) is None


# --- defaults, prompt, timeout ---------------------------------------------------------------


def test_default_provider_and_a_model_outside_the_suggested_list() -> None:
    settings = load(DEFAULT_PROVIDER="Mistral", DEFAULT_MODEL="open-mixtral-8x22b")
    assert settings.default_provider == "mistral"
    mistral = settings.provider("mistral")
    assert "open-mixtral-8x22b" not in mistral.models
    assert settings.initial_model(mistral) == "open-mixtral-8x22b"
    # DEFAULT_MODEL belongs to the default provider only.
    groq = settings.provider("groq")
    assert settings.initial_model(groq) == groq.default_model


def test_default_provider_without_any_setting_is_the_first_in_the_table() -> None:
    assert load().default_provider == PROVIDERS[0].id


def test_explicit_default_provider_beats_the_server_key_provider() -> None:
    assert load(GROQ_API_KEY=canary("k"), DEFAULT_PROVIDER="openai").default_provider == "openai"


def test_system_prompt_and_request_timeout() -> None:
    settings = load(SYSTEM_PROMPT="Answer in French.", REQUEST_TIMEOUT="2.5")
    assert settings.system_prompt == "Answer in French."
    assert settings.request_timeout == 2.5
    defaults = load()
    assert defaults.system_prompt == "You are a helpful assistant."
    assert defaults.request_timeout == 60.0


def test_size_limits_are_read() -> None:
    settings = load(
        MAX_MESSAGE_CHARS="500",
        MAX_HISTORY_MESSAGES="4",
        MAX_OUTPUT_TOKENS="256",
        CONCURRENCY_LIMIT="8",
        QUEUE_MAX_SIZE="16",
        MAX_CHATS_PER_CLIENT="3",
    )
    assert settings.max_chats_per_client == 3
    assert load().max_chats_per_client == 8
    assert (settings.max_message_chars, settings.max_history_messages) == (500, 4)
    assert (settings.max_output_tokens, settings.concurrency_limit, settings.queue_max_size) == (256, 8, 16)


def test_allowed_hosts_are_host_names_or_a_star() -> None:
    assert load().allowed_hosts == frozenset()
    assert load(ALLOWED_HOSTS=" Chat.Example.org , b.example ").allowed_hosts == {"chat.example.org", "b.example"}
    assert load(ALLOWED_HOSTS="*").allowed_hosts == {"*"}


# --- .env ------------------------------------------------------------------------------------


def test_dotenv_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dotenv_groq, dotenv_mistral, env_groq = canary("dotenv-groq"), canary("dotenv-mistral"), canary("env-groq")
    (tmp_path / ".env").write_text(
        f"GROQ_API_KEY={dotenv_groq}\nMISTRAL_API_KEY={dotenv_mistral}\nSYSTEM_PROMPT=from dotenv\n"
    )
    monkeypatch.setenv("GROQ_API_KEY", env_groq)
    assert Path.cwd() == tmp_path  # clean_env runs us in tmp_path, where the default .env path points
    settings = load_settings()
    assert settings.server_key("groq").reveal() == env_groq
    assert settings.server_key("mistral").reveal() == dotenv_mistral
    assert settings.system_prompt == "from dotenv"
    # .env must stay out of os.environ: the openai SDK and child processes read it.
    assert "MISTRAL_API_KEY" not in os.environ
    assert "SYSTEM_PROMPT" not in os.environ
    assert dotenv_mistral not in os.environ.values()
    assert os.environ["GROQ_API_KEY"] == env_groq


def test_dotenv_path_none_ignores_the_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"GROQ_API_KEY={canary('ignored')}\n")
    assert load_settings({}, dotenv_path=None).server_keys == {}
    assert load_settings({}).server_key("groq") is not None


def test_dotenv_errors_are_reported_like_environment_errors(tmp_path: Path) -> None:
    secret = canary("dotenv-bad")
    (tmp_path / ".env").write_text(f'GROQ_API_KEY="{secret} trailing"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings({})
    assert "GROQ_API_KEY" in str(caught.value)
    assert secret not in str(caught.value)


# --- malformed values ------------------------------------------------------------------------

SECRET_PART = "sk-canary-malformed-5f1c2d3e4a"

MALFORMED: list[tuple[str, dict[str, str], str, str]] = [
    # (case id, environment, variable the message must name, words of the fix it must give)
    ("key-space", {"GROQ_API_KEY": f"{SECRET_PART} extra"}, "GROQ_API_KEY", "key alone"),
    ("key-newline", {"OPENAI_API_KEY": f"{SECRET_PART}\nX-Injected: 1"}, "OPENAI_API_KEY", "key alone"),
    ("key-non-ascii", {"HF_TOKEN": f"{SECRET_PART}é"}, "HF_TOKEN", "key alone"),
    (
        "custom-key-space",
        {"CUSTOM_BASE_URL": "https://x.example/v1", "CUSTOM_API_KEY": f"a {SECRET_PART}"},
        "CUSTOM_API_KEY",
        "key alone",
    ),
    ("url-scheme", {"GROQ_BASE_URL": "ftp://api.groq.com/v1"}, "GROQ_BASE_URL", "http:// or https://"),
    ("url-no-host", {"OPENAI_BASE_URL": "https:///v1"}, "OPENAI_BASE_URL", "http:// or https://"),
    ("url-bare-word", {"OLLAMA_BASE_URL": "localhost"}, "OLLAMA_BASE_URL", "http:// or https://"),
    (
        "url-credentials",
        {"OPENAI_BASE_URL": f"https://user:{SECRET_PART}@gw.example.com/v1"},
        "OPENAI_BASE_URL",
        "key variable",
    ),
    (
        "url-query",
        {"MISTRAL_BASE_URL": f"https://gw.example.com/v1?key={SECRET_PART}"},
        "MISTRAL_BASE_URL",
        "key variable",
    ),
    ("url-fragment", {"GROQ_BASE_URL": "https://gw.example.com/v1#frag"}, "GROQ_BASE_URL", "key variable"),
    ("custom-url", {"CUSTOM_BASE_URL": "llm.example.com/v1"}, "CUSTOM_BASE_URL", "http:// or https://"),
    ("custom-models-alone", {"CUSTOM_MODELS": "a,b"}, "CUSTOM_BASE_URL", "Set CUSTOM_BASE_URL"),
    ("custom-key-alone", {"CUSTOM_API_KEY": SECRET_PART}, "CUSTOM_BASE_URL", "Set CUSTOM_BASE_URL"),
    (
        "custom-model-space",
        {"CUSTOM_BASE_URL": "https://x.example/v1", "CUSTOM_MODELS": "good,bad model"},
        "CUSTOM_MODELS",
        "without spaces",
    ),
    (
        "custom-needs-key",
        {"CUSTOM_BASE_URL": "https://x.example/v1", "CUSTOM_NEEDS_KEY": "maybe"},
        "CUSTOM_NEEDS_KEY",
        "true or false",
    ),
    ("default-provider", {"DEFAULT_PROVIDER": "nope"}, "DEFAULT_PROVIDER", "one of: openai"),
    ("default-model", {"DEFAULT_MODEL": "two words"}, "DEFAULT_MODEL", "without spaces"),
    ("timeout-word", {"REQUEST_TIMEOUT": "soon"}, "REQUEST_TIMEOUT", "number from 1 to 3600"),
    ("timeout-zero", {"REQUEST_TIMEOUT": "0"}, "REQUEST_TIMEOUT", "number from 1 to 3600"),
    ("timeout-nan", {"REQUEST_TIMEOUT": "nan"}, "REQUEST_TIMEOUT", "number from 1 to 3600"),
    ("timeout-inf", {"REQUEST_TIMEOUT": "inf"}, "REQUEST_TIMEOUT", "number from 1 to 3600"),
    ("max-message", {"MAX_MESSAGE_CHARS": "-5"}, "MAX_MESSAGE_CHARS", "number from"),
    ("max-history", {"MAX_HISTORY_MESSAGES": "lots"}, "MAX_HISTORY_MESSAGES", "number from"),
    ("max-output", {"MAX_OUTPUT_TOKENS": "1"}, "MAX_OUTPUT_TOKENS", "number from"),
    ("concurrency", {"CONCURRENCY_LIMIT": "0"}, "CONCURRENCY_LIMIT", "number from"),
    ("queue", {"QUEUE_MAX_SIZE": "1e9"}, "QUEUE_MAX_SIZE", "number from"),
    ("chats-per-client", {"MAX_CHATS_PER_CLIENT": "0"}, "MAX_CHATS_PER_CLIENT", "number from"),
    (
        "sdk-headers",
        {"OPENAI_CUSTOM_HEADERS": f"Authorization: Bearer {SECRET_PART}"},
        "OPENAI_CUSTOM_HEADERS",
        "Unset OPENAI_CUSTOM_HEADERS",
    ),
    ("sdk-admin-key", {"OPENAI_ADMIN_KEY": SECRET_PART}, "OPENAI_ADMIN_KEY", "Unset OPENAI_ADMIN_KEY"),
    ("hosts-url", {"ALLOWED_HOSTS": "https://chat.example.org"}, "ALLOWED_HOSTS", "no scheme, port or path"),
    ("hosts-port", {"ALLOWED_HOSTS": "chat.example.org:8443"}, "ALLOWED_HOSTS", "no scheme, port or path"),
    ("hosts-star-and-name", {"ALLOWED_HOSTS": "*,chat.example.org"}, "ALLOWED_HOSTS", "or *"),
]


@pytest.mark.parametrize(("env", "variable", "fix"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_value_names_variable_and_fix_without_the_value(env: dict[str, str], variable: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**env)
    message = str(caught.value)
    assert variable in message
    assert fix in message
    assert SECRET_PART not in message
    assert SECRET_PART not in repr(caught.value)
    assert caught.value.title == "Configuration error"


def test_python_app_py_exits_with_the_message_on_a_bad_variable(tmp_path: Path) -> None:
    secret = canary("startup")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "PYTEST"))}
    env.update(GROQ_API_KEY=f"{secret} oops", GRADIO_SERVER_PORT=str(free_port()))
    done = subprocess.run(
        [sys.executable, str(APP)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "byok-chat: configuration error: GROQ_API_KEY" in done.stderr
    assert "key alone" in done.stderr
    assert "Traceback" not in output
    assert secret not in output
