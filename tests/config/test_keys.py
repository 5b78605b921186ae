"""Keys as values: masked wherever they are printed, never pickled, never shared between sessions,
resolved to exactly one provider."""

from __future__ import annotations

import copy
import json
import logging
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.keys import SessionKeys, parse_visitor_key, resolve_key
from config.secret import MAX_KEY_LENGTH, MIN_KEY_LENGTH, Secret
from config.settings import load_settings
from errors import InputRejected, KeyRequired
from tests.conftest import canary

# --- Secret ----------------------------------------------------------------------------------


def test_secret_is_masked_in_every_text_conversion() -> None:
    key = canary("mask")
    secret = Secret(key)
    renderings = [
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        f"{secret:>80}",
        format(secret, "s"),
        "{:<90}".format(secret),  # noqa: UP032 - str.format with a spec, as templates do
        "%s" % secret,  # noqa: UP031 - the old style is what logging uses
        "%r" % (secret,),  # noqa: UP031
        str([secret]),
        str({"groq": secret}),
        json.dumps({"k": secret}, default=str),
    ]
    for text in renderings:
        assert key not in text
        assert "****" in text
    assert secret.reveal() == key


def test_secret_in_a_log_call_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    key = canary("log-arg")
    with caplog.at_level(logging.INFO):
        logging.getLogger("byok_chat.test").info("using key %s for %r", Secret(key), Secret(key))
    assert caplog.records
    assert key not in caplog.text


def test_secret_refuses_pickle_alone_and_inside_containers() -> None:
    secret = Secret(canary("pickle"))
    for value in (secret, [secret], {"groq": secret}, (1, secret)):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(value)


def test_secret_copies_are_the_same_object_and_compare_by_value() -> None:
    key = canary("copy")
    secret = Secret(key)
    assert copy.copy(secret) is secret
    assert copy.deepcopy(secret) is secret
    assert Secret(key) == secret
    assert hash(Secret(key)) == hash(secret)
    assert Secret(key) != key  # never equal to the plain string: no accidental comparisons with input
    assert Secret(key) != Secret(canary("other"))


# --- SessionKeys -----------------------------------------------------------------------------


def test_session_keys_deep_copy_shares_nothing() -> None:
    original = SessionKeys()
    original.set("groq", Secret(canary("a")))
    clone = copy.deepcopy(original)
    assert len(clone) == 0 and "groq" not in clone
    clone.set("openai", Secret(canary("b")))
    assert "openai" not in original
    assert len(original) == 1
    original.forget("groq")
    assert len(original) == 0


def test_gradio_gives_each_session_its_own_session_keys() -> None:
    """Gradio deep-copies a State's initial value per session: what one visitor stores is invisible to
    every other session, even when the initial value object was mutated."""
    import gradio as gr
    from gradio.state_holder import SessionState

    initial = SessionKeys()
    with gr.Blocks() as demo:
        state = gr.State(initial)
    first, second = SessionState(demo), SessionState(demo)
    first[state._id].set("groq", Secret(canary("visitor-a")))
    initial.set("mistral", Secret(canary("leaked-into-initial")))
    assert "groq" in first[state._id]
    assert len(second[state._id]) == 0
    assert "mistral" not in SessionState(demo)[state._id]


def test_session_keys_repr_names_providers_only_and_refuses_pickle() -> None:
    key = canary("repr")
    keys = SessionKeys()
    keys.set("groq", Secret(key))
    assert key not in repr(keys) and key not in str(keys)
    assert "groq" in repr(keys)
    with pytest.raises(TypeError):
        pickle.dumps(keys)


def test_session_keys_clear_forgets_everything() -> None:
    keys = SessionKeys()
    keys.set("groq", Secret(canary("x")))
    keys.set("openai", Secret(canary("y")))
    keys.clear()
    assert len(keys) == 0 and keys.get("groq") is None


# --- resolve_key -----------------------------------------------------------------------------


def test_server_mode_uses_the_providers_own_server_key() -> None:
    groq_key, openai_key = canary("groq"), canary("openai")
    settings = load_settings({"GROQ_API_KEY": groq_key, "OPENAI_API_KEY": openai_key}, dotenv_path=None)
    assert resolve_key(settings.provider("groq"), settings, visitor_key=None).reveal() == groq_key
    assert resolve_key(settings.provider("openai"), settings, visitor_key=None).reveal() == openai_key


def test_byo_mode_uses_the_visitors_key() -> None:
    settings = load_settings({}, dotenv_path=None)
    visitor = Secret(canary("visitor"))
    assert resolve_key(settings.provider("groq"), settings, visitor_key=visitor) is visitor


def test_byo_mode_without_a_key_asks_for_one_and_never_borrows_another_providers_key() -> None:
    openai_key = canary("openai-server")
    settings = load_settings({"OPENAI_API_KEY": openai_key}, dotenv_path=None)
    with pytest.raises(KeyRequired) as caught:
        resolve_key(settings.provider("groq"), settings, visitor_key=None)
    assert "Groq" in str(caught.value)
    assert "GROQ_API_KEY" in str(caught.value)
    assert caught.value.title == "API key needed"
    assert openai_key not in str(caught.value)


def test_mixed_mode_server_key_for_one_provider_visitor_key_for_another() -> None:
    groq_key = canary("groq-server")
    settings = load_settings({"GROQ_API_KEY": groq_key}, dotenv_path=None)
    visitor = Secret(canary("openai-visitor"))
    assert resolve_key(settings.provider("groq"), settings, visitor_key=None).reveal() == groq_key
    assert resolve_key(settings.provider("openai"), settings, visitor_key=visitor) is visitor
    with pytest.raises(KeyRequired):
        resolve_key(settings.provider("openai"), settings, visitor_key=None)


def test_a_visitor_key_wins_over_the_server_key() -> None:
    # A wrong visitor key must fail, not quietly spend the operator's account.
    settings = load_settings({"GROQ_API_KEY": canary("server")}, dotenv_path=None)
    visitor = Secret(canary("visitor"))
    assert resolve_key(settings.provider("groq"), settings, visitor_key=visitor) is visitor


def test_local_providers_resolve_to_no_key_even_with_an_openai_server_key() -> None:
    settings = load_settings({"OPENAI_API_KEY": canary("openai")}, dotenv_path=None)
    for pid in ("ollama", "lmstudio", "vllm", "llamacpp"):
        assert resolve_key(settings.provider(pid), settings, visitor_key=None) is None


# --- parse_visitor_key -----------------------------------------------------------------------


def test_visitor_key_accepted_and_trimmed() -> None:
    key = canary("ok")
    secret = parse_visitor_key(f"  {key}\n")
    assert isinstance(secret, Secret) and secret.reveal() == key


@pytest.mark.parametrize("raw", ["", "   ", "\n\t"])
def test_empty_box_means_no_key(raw: str) -> None:
    assert parse_visitor_key(raw) is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("sk-canary-abc def123456", "spaces"),
        ("sk-canary-abc\r\nX-Evil: 1", "spaces, line breaks"),
        ("sk-canary-abc\ndef1234", "line breaks"),
        ("sk-canary-abc\tdef1234", "spaces"),
        ("sk-canary-\x00abcdef", "spaces"),
        ("sk-canary-ключ12345", "spaces"),
        ("k" * 10_240, "too long"),
        ("k" * (MAX_KEY_LENGTH + 1), "too long"),
        ("k" * (MIN_KEY_LENGTH - 1), "too short"),
        ("abc", "too short"),
    ],
    ids=["space", "crlf", "lf", "tab", "nul", "non-ascii", "10kb", "max+1", "min-1", "tiny"],
)
def test_visitor_key_refused_without_quoting_it(raw: str, why: str) -> None:
    with pytest.raises(InputRejected) as caught:
        parse_visitor_key(raw)
    assert why in str(caught.value)
    assert raw.strip() not in str(caught.value)


@pytest.mark.parametrize("raw", [None, b"sk-canary-bytes-123456", 12345678, ["sk-canary-list-123456"]])
def test_visitor_key_must_be_text(raw: object) -> None:
    with pytest.raises(InputRejected, match="must be text"):
        parse_visitor_key(raw)


def test_visitor_key_length_bounds_are_inclusive() -> None:
    assert parse_visitor_key("k" * MIN_KEY_LENGTH) is not None
    assert parse_visitor_key("k" * MAX_KEY_LENGTH) is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_visitor_key_is_a_clean_header_value_or_refused(raw: str) -> None:
    try:
        secret = parse_visitor_key(raw)
    except InputRejected as rejected:
        stripped = raw.strip()
        # Refusal messages are our own fixed text; a key-shaped input never comes back in them.
        if len(stripped) >= MIN_KEY_LENGTH and not any(ch.isspace() for ch in stripped):
            assert stripped not in str(rejected)
        return
    if secret is None:
        assert not raw.strip()
        return
    value = secret.reveal()
    assert MIN_KEY_LENGTH <= len(value) <= MAX_KEY_LENGTH
    assert all(0x21 <= ord(ch) <= 0x7E for ch in value)
