"""Properties that must hold for any input: history rebuilding and key redaction.

Hypothesis generates the hostile part (any Unicode, lone surrogates and controls included; any
JSON-ish type where a string was expected; keys of any visible-ASCII shape, split anywhere).
Example counts stay modest so the file runs in seconds.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.redact import MASK, RedactingFilter, RedactingStream, redact
from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.request import ChatInputs, build_request
from conversation.text import CUT_OFF_MARK, clean_text
from errors import InputRejected

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Injected turns carry this private-use character and nothing else does, so finding it in the
# output means an injected turn survived.
INJECTED = "\ue000"

# Any code point: lone surrogates, controls, private use, astral planes.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
any_text = st.text(ANY_CHAR, max_size=60)
safe_text = st.text(ANY_CHAR.filter(lambda c: c != INJECTED), max_size=60)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _parts(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    part = st.one_of(
        st.fixed_dictionaries({"type": st.just("text"), "text": text}),
        st.fixed_dictionaries({"type": st.sampled_from(["file", "image", "text "]), "text": text}),
        st.fixed_dictionaries({"type": st.just("text"), "text": junk}),
        junk,
    )
    return st.one_of(text, st.lists(part, max_size=3), part, junk)


_allowed_turn = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]), "content": _parts(safe_text)},
    optional={"metadata": st.one_of(st.none(), st.just({}), st.just({"title": ""}))},
)
_injected_turn = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.one_of(st.sampled_from(["system", "tool", "developer", "function", "User", "user "]), junk),
            "content": st.builds(lambda t: INJECTED + t, any_text),
        }
    ),
    # Gradio's "thought" bubbles are UI, never conversation.
    st.fixed_dictionaries(
        {
            "role": st.just("assistant"),
            "content": st.builds(lambda t: INJECTED + t, any_text),
            "metadata": st.fixed_dictionaries({"title": st.text(min_size=1, max_size=5)}),
        }
    ),
)
_cut_off_turn = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": st.builds(lambda t: t + CUT_OFF_MARK, safe_text)}
)
history_entries = st.lists(st.one_of(_allowed_turn, _injected_turn, _cut_off_turn, junk), max_size=40)

caps = st.fixed_dictionaries(
    {
        "max_history_messages": st.integers(0, 12),
        "max_history_chars": st.integers(0, 400),
        "max_message_chars": st.integers(100, 300),
        "max_output_tokens": st.integers(16, 4096),
    }
)

_BASE = load_settings({}, dotenv_path=None)


def _settings(limits: dict[str, int]) -> Settings:
    return dataclasses.replace(_BASE, **limits)


def _build(cfg: Settings, **overrides: object) -> Any:
    args: dict[str, object] = {
        "message": "hello",
        "history": [],
        "provider_id": "groq",
        "model": "some-model",
        "system_prompt": "Be brief.",
        "temperature": 0.5,
        "max_tokens": 16,
    }
    args.update(overrides)
    return build_request(cfg, ChatInputs(**args))  # type: ignore[arg-type]


def _is_clean(text: str) -> bool:
    try:
        text.encode("utf-8")  # strict: fails on any lone surrogate
    except UnicodeEncodeError:
        return False
    return not CONTROL.search(text) and "\r" not in text


# --- history rebuilding ----------------------------------------------------------------------


@FAST
@given(history=history_entries, message=any_text, system=st.one_of(any_text, junk), limits=caps)
def test_any_history_becomes_system_then_alternating_turns_within_the_caps(
    history: list[object], message: str, system: object, limits: dict[str, int]
) -> None:
    cfg = _settings(limits)
    try:
        request = _build(cfg, message=message, history=history, system_prompt=system)
    except InputRejected:
        cleaned = clean_text(message)
        assert not cleaned.strip() or len(cleaned) > cfg.max_message_chars
        return
    messages = list(request.messages)
    roles = [m["role"] for m in messages]

    # Our system prompt first and the only one; none at all when the prompt is empty once cleaned
    # (a non-text prompt from a raw call falls back to the operator's).
    ours = clean_text(system if isinstance(system, str) else cfg.system_prompt).strip()
    assert "system" not in roles[1:]
    assert (roles[0] == "system") == bool(ours)
    # Then user/assistant only, alternating (same-role neighbours merged), user first and last.
    turns = messages[1:] if ours else messages
    assert {m["role"] for m in turns} <= {"user", "assistant"}
    assert turns[0]["role"] == "user" and turns[-1]["role"] == "user"
    assert all(a["role"] != b["role"] for a, b in pairwise(turns))

    # Every content is clean, non-empty text, and no injected turn or our own marker survived.
    for m in messages:
        assert isinstance(m["content"], str) and m["content"].strip()
        assert _is_clean(m["content"]), ascii(m["content"])
        assert INJECTED not in m["content"]
        assert CUT_OFF_MARK not in m["content"]

    # The caps: turn count, characters, and the new message last, whole.
    new = clean_text(message)
    assert len(turns) <= cfg.max_history_messages + 1
    assert turns[-1]["content"].endswith(new)
    history_chars = sum(len(m["content"]) for m in turns) - len(new)
    merges = 2 * len(turns)  # the "\n\n" that joins merged neighbours
    assert history_chars <= cfg.max_history_chars + merges
    assert len(messages[0]["content"]) <= max(cfg.max_message_chars, len(cfg.system_prompt))


@FAST
@given(
    message=st.one_of(any_text, junk, st.fixed_dictionaries({"text": st.one_of(any_text, junk)})),
    history=st.one_of(history_entries, junk),
    provider_id=st.one_of(st.sampled_from(["groq", "openai", "custom", "GROQ", ""]), junk),
    model=st.one_of(any_text, junk),
    system=st.one_of(any_text, junk),
    temperature=junk,
    max_tokens=junk,
)
def test_any_junk_is_either_refused_or_a_well_formed_request(
    message: object,
    history: object,
    provider_id: object,
    model: object,
    system: object,
    temperature: object,
    max_tokens: object,
) -> None:
    try:
        request = _build(
            _BASE,
            message=message,
            history=history,
            provider_id=provider_id,
            model=model,
            system_prompt=system,
            temperature=temperature,
            max_tokens=max_tokens,
        )
    except InputRejected as rejected:
        # A fixed, printable message of our own, never an echo of the input.
        assert _is_clean(str(rejected)) and len(str(rejected)) < 300
        return
    assert request.provider.id == provider_id
    assert re.fullmatch(r"[\x21-\x7e]{1,200}", request.model)
    # None is the provider's own default: nothing is sent.
    assert request.temperature is None or (math.isfinite(request.temperature) and 0 <= request.temperature <= 2)
    assert isinstance(request.max_tokens, int) and 1 <= request.max_tokens <= _BASE.max_output_tokens
    assert all(_is_clean(m["content"]) for m in request.messages)


@FAST
@given(text=any_text)
def test_clean_text_is_idempotent_and_clean(text: str) -> None:
    once = clean_text(text)
    assert _is_clean(once)
    assert clean_text(once) == once


# --- key redaction ---------------------------------------------------------------------------

# What parse_visitor_key accepts: visible ASCII, 8 to 512 characters.
# Any visible-ASCII key, except a piece of the mask itself: masking cannot remove what it writes.
key_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=80).filter(
    lambda key: key not in MASK
)
context = st.text(ANY_CHAR, max_size=40)
# Well-known key formats the redactor masks even when no live Secret holds them.
KEY_SHAPED = r"sk-(proj-|ant-)?[A-Za-z0-9_-]{16,60}|gsk_[A-Za-z0-9]{20,52}|hf_[A-Za-z0-9]{20,40}"


@contextmanager
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with the redacting filter and its own handler, as install_redaction arranges."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("byok_chat.test_properties")
    logger.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()


@FAST
@given(key=key_text, before=context, after=context, times=st.integers(1, 3))
def test_a_live_key_is_masked_wherever_it_appears(key: str, before: str, after: str, times: int) -> None:
    secret = Secret(key)
    text = before + (key + after) * times
    out = redact(text)
    assert key not in out
    assert MASK in out
    del secret


@FAST
@given(key=key_text, cut=st.integers(1, 7), before=context, after=context)
def test_a_key_and_a_longer_key_containing_it_are_both_masked(key: str, cut: int, before: str, after: str) -> None:
    short = key[:-cut] if len(key) - cut >= 8 else key
    secrets_alive = (Secret(key), Secret(short))
    out = redact(f"{before}{key}{after}{short}{before}")
    assert key not in out and short not in out
    del secrets_alive


@FAST
@given(
    key=key_text,
    cuts=st.lists(st.integers(1, 79), min_size=1, max_size=3, unique=True),
    glue=st.sampled_from(["%s%s", "key=%s%s.", "%s" + "%s" + " tail", "[%s%s]"]),
)
def test_a_key_split_across_log_format_arguments_is_masked(key: str, cuts: list[int], glue: str) -> None:
    secret = Secret(key)
    points = sorted(c for c in cuts if c < len(key))
    pieces = [key[a:b] for a, b in pairwise([0, *points, len(key)])]
    fmt = glue.replace("%s%s", "%s" * len(pieces), 1)
    with logged() as (logger, out):
        logger.info(fmt, *pieces)
        logger.warning("failed: %s", {"auth": f"Bearer {key}"})
        try:
            raise RuntimeError(f"provider said: {key[: len(key) // 2]}" + key[len(key) // 2 :])
        except RuntimeError:
            logger.exception("chat failed")
    text = out.getvalue()
    assert key not in text
    assert text.count(MASK) >= 3
    del secret


@FAST
@given(key=key_text, before=context, after=context)
def test_a_live_key_written_whole_to_a_wrapped_stream_is_masked(key: str, before: str, after: str) -> None:
    secret = Secret(key)
    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write(before + key + after)
    stream.flush()
    assert key not in inner.getvalue()
    del secret


@FAST
@given(
    key=key_text,
    cuts=st.lists(st.integers(1, 79), min_size=1, max_size=4, unique=True),
    before=context,
    end=st.sampled_from(["\n", "\r\n", "\r", ""]),
)
def test_a_live_key_printed_in_pieces_to_a_wrapped_stream_is_masked(
    key: str, cuts: list[int], before: str, end: str
) -> None:
    # print(a, b, sep="") writes each argument separately: the stream must see the key whole.
    secret = Secret(key)
    inner = io.StringIO()
    stream = RedactingStream(inner)
    points = sorted(c for c in cuts if c < len(key))
    print(before, *[key[a:b] for a, b in pairwise([0, *points, len(key)])], sep="", end=end, file=stream)
    stream.flush()
    assert key not in inner.getvalue()
    # The end of the line arrives too (a key overlapping the text before it, like "0" + "00000000",
    # is masked where it first matches, so the text need not end in the mask itself).
    assert MASK in inner.getvalue() and inner.getvalue().endswith(end)
    del secret


@FAST
@given(
    key=st.from_regex(KEY_SHAPED, fullmatch=True),
    before=st.sampled_from(["", " ", "key=", '"', "(", "\n"]),
    after=st.sampled_from(["", " ", ".", '"', ")", "\n"]),
)
def test_key_shaped_tokens_are_masked_even_when_not_live(key: str, before: str, after: str) -> None:
    out = redact(before + key + after)
    # Not "== before + MASK + after": a live secret from elsewhere may mask part of it first.
    assert key not in out and MASK in out and out.startswith(before) and out.endswith(after)
