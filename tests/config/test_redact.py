"""The second line of defence: whatever slips into a log line, a traceback or a print is masked."""

from __future__ import annotations

import asyncio
import gc
import importlib
import io
import logging
import secrets
import sys

import pytest

from config.redact import MASK, RedactingFilter, RedactingStream, install_redaction, redact
from config.secret import Secret, live_secrets
from config.settings import load_settings
from conversation.request import ChatInputs, build_request
from providers import ChatStream
from tests.conftest import canary, routed_env
from tests.fake_provider import FakeProvider

log = logging.getLogger("byok_chat.test_redact")


def odd_key() -> str:
    """A key no pattern recognises, so only the live-secret registry can mask it."""
    return f"zq{secrets.token_hex(16)}"


@pytest.fixture(autouse=True)
def redaction() -> None:
    install_redaction()


def test_a_key_no_pattern_knows_is_masked_while_its_secret_lives() -> None:
    key = odd_key()
    assert redact(f"key={key}.") == f"key={key}."  # not live yet: nothing knows it is a key
    secret = Secret(key)
    assert redact(f"key={key}.") == f"key={MASK}."
    del secret
    gc.collect()
    # A visitor's key leaves the registry with their session: no process-wide list of old keys.
    assert key not in set(live_secrets())


def test_live_key_masked_in_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    key = odd_key()
    holder = Secret(key)
    with caplog.at_level(logging.INFO):
        log.info("provider said: Incorrect API key provided: %s", key)
        log.warning(f"inline {key} too")
    assert len(caplog.records) == 2
    assert key not in caplog.text
    assert caplog.text.count(MASK) == 2
    assert holder.reveal() == key


def test_key_split_across_format_arguments(caplog: pytest.LogCaptureFixture) -> None:
    key = odd_key()
    holder = Secret(key)
    with caplog.at_level(logging.INFO):
        log.info("key=%s%s%s", key[:5], key[5:20], key[20:])
        log.info("headers %s", {"Authorization": f"Bearer {key}"})
    assert key not in caplog.text
    for record in caplog.records:
        assert key not in record.getMessage()
    del holder


def test_key_in_an_exception_traceback(caplog: pytest.LogCaptureFixture) -> None:
    key = odd_key()
    holder = Secret(key)
    with caplog.at_level(logging.ERROR):
        try:
            raise RuntimeError(f"Error code: 401 - Incorrect API key provided: {key}")
        except RuntimeError:
            log.exception("request failed")
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text
    assert key not in caplog.text
    assert MASK in caplog.text
    del holder


def test_key_in_a_handler_that_formats_on_its_own() -> None:
    key = odd_key()
    holder = Secret(key)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"byok_chat.isolated.{secrets.token_hex(4)}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        raise ValueError(key)
    except ValueError:
        logger.error("boom %s", key, exc_info=True, stack_info=True)
    assert "ValueError" in out.getvalue()
    assert key not in out.getvalue()
    del holder


def test_a_broken_format_string_still_logs_and_is_masked() -> None:
    key = odd_key()
    holder = Secret(key)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "two %s %s", (key,), None)
    assert RedactingFilter().filter(record)
    assert key not in record.getMessage()
    assert MASK in record.getMessage()
    del holder


def test_print_goes_through_the_wrapped_streams(capsys: pytest.CaptureFixture[str]) -> None:
    install_redaction()  # capsys swapped the streams after the autouse install
    assert isinstance(sys.stdout, RedactingStream) and isinstance(sys.stderr, RedactingStream)
    key = odd_key()
    holder = Secret(key)
    print("stdout:", key)
    print("stderr:", key, file=sys.stderr)
    out, err = capsys.readouterr()
    assert out == f"stdout: {MASK}\n"
    assert err == f"stderr: {MASK}\n"
    del holder


def test_redacting_stream_masks_and_delegates() -> None:
    key = odd_key()
    holder = Secret(key)
    inner = io.StringIO()
    stream = RedactingStream(inner)
    assert stream.write(f"a {key} b") == len(f"a {key} b")
    stream.flush()
    assert inner.getvalue() == f"a {MASK} b"
    assert stream.isatty() is False
    del holder


def test_install_redaction_is_idempotent() -> None:
    factory = logging.getLogRecordFactory()
    install_redaction()
    install_redaction()
    assert logging.getLogRecordFactory() is factory
    assert not isinstance(sys.stdout._inner, RedactingStream)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "token",
    [
        "Bearer abcdefgh12345678",
        "bearer abc.def-ghi_jkl~mno+pq/rs=",
        "BEARER 0123456789abcdef",
        "sk-abcdefghijklmnop1234",
        "sk-proj-abcdefghijklmnop1234",
        "sk-ant-api03-abcdefghijklmnop",
        "hf_abcdefghijklmnopqrstuvwx",
        "gsk_abcdefghijklmnopqrstuvwx",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz012",
    ],
)
def test_key_shaped_tokens_are_masked_without_being_live(token: str) -> None:
    text = redact(f"sent {token} upstream")
    assert text == f"sent {MASK} upstream"


@pytest.mark.parametrize(
    "text",
    ["the bearer of bad news", "task-force", "sk-short", "hf_token is a variable name", "Authorization: Basic"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_very_short_secrets_do_not_mask_ordinary_words() -> None:
    holder = Secret("the")
    assert redact("the cat") == "the cat"
    del holder


def test_a_key_containing_another_key_is_masked_whole() -> None:
    short = odd_key()
    long = short + "extra0123"
    holders = (Secret(short), Secret(long))
    assert redact(f"[{long}]") == f"[{MASK}]"
    del holders


def test_library_debug_logging_of_a_real_request_shows_no_key(
    caplog: pytest.LogCaptureFixture, provider: FakeProvider
) -> None:
    key = canary("debug-log")
    settings = load_settings(routed_env(provider, GROQ_API_KEY=key), dotenv_path=None)
    request = build_request(
        settings,
        ChatInputs(
            message="hi",
            history=[],
            provider_id="groq",
            model="echo-key-401",
            system_prompt="",
            temperature=0.5,
            max_tokens=50,
        ),
    )

    async def run() -> None:
        stream = ChatStream(request, key=settings.server_key("groq"), timeout=5, max_retries=0)
        with pytest.raises(Exception, match="rejected the API key"):
            async for _ in stream:
                pass

    with caplog.at_level(logging.DEBUG):
        asyncio.run(run())
    assert provider.chat_requests[0].authorization == f"Bearer {key}"
    # The HTTP libraries did log the request at DEBUG, so a key in their output would have shown.
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records), {r.name for r in caplog.records}
    assert key not in caplog.text


def test_keys_made_after_a_reload_are_masked_in_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    """`gradio app.py` drops our modules after an edit and runs app.py again: config.secret comes
    back with a registry of its own, and the keys read from then on live only there. The record
    factory installed by the first load knows only the first registry."""
    first = Secret(odd_key())
    ours = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "config"}
    factory, streams = logging.getLogRecordFactory(), (sys.stdout, sys.stderr)
    try:
        for name in ours:
            del sys.modules[name]
        reloaded_secret = importlib.import_module("config.secret")
        importlib.import_module("config.redact").install_redaction()
        second = reloaded_secret.Secret(odd_key())
        with caplog.at_level(logging.INFO):
            log.info("before the edit %s, after it %s", first.reveal(), second.reveal())
        assert first.reveal() not in caplog.text and second.reveal() not in caplog.text
        assert caplog.text.count(MASK) == 2
    finally:
        sys.modules.update(ours)
        logging.setLogRecordFactory(factory)
        sys.stdout, sys.stderr = streams
