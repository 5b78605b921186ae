"""Request bodies are judged by their shape before the event loop parses them: what the page sends
passes, and the shapes that cost far more than their bytes are refused, here and in the worker."""

from __future__ import annotations

import asyncio
import json

import pytest

from conversation.transcript import MAX_IMPORT_BYTES, MAX_IMPORT_MESSAGES
from web.bodies import INLINE_BYTES, BodyJudge, body_limits
from web.body_shape import INVALID

LIMITS = body_limits(
    max_message_chars=16_000,
    max_history_chars=100_000,
    max_import_bytes=MAX_IMPORT_BYTES,
    max_import_messages=MAX_IMPORT_MESSAGES,
)
SENTENCE = "This is a sentence of ordinary prose, with a comma or two, as people write them. "


def _join(data: list[object]) -> bytes:
    return json.dumps({"data": data, "fn_index": 2, "session_hash": "abcdef123456"}).encode()


def _page_message(role: str, text: str) -> dict[str, object]:
    return {"role": role, "metadata": None, "content": [{"type": "text", "text": text}], "options": None}


def _judge(body: bytes) -> str | None:
    async def judged() -> str | None:
        judge = BodyJudge(LIMITS)
        try:
            return await judge.fault(body)
        finally:
            await judge.close()

    return asyncio.run(judged())


LEGIT = {
    "a short chat": _join(["hi", [_page_message("user", "hello")], "groq", "m", "", 0.7, 1024, None]),
    # The most messages a conversation may hold, in the page's own format, each a paragraph.
    "the longest conversation": _join(
        [
            "and one more",
            [_page_message(r, SENTENCE * 5) for _ in range(2 * MAX_IMPORT_MESSAGES) for r in ("user", "assistant")],
            "groq",
            "m",
            "",
            0.7,
            1024,
            None,
        ]
    ),
    "an imported 2 MB conversation": _join(
        [[_page_message(r, SENTENCE * 25) for _ in range(MAX_IMPORT_MESSAGES // 2) for r in ("user", "assistant")]]
    ),
}

HOSTILE = {
    "an object of 190,000 keys": b'{"data": [{' + b",".join(b'"k%07d":1' % i for i in range(190_000)) + b"}]}",
    "49,000 turns": _join(["hi", [{"role": "user", "content": "x"}] * 49_000]),
    "numbers of 4,299 digits": b'{"data": [' + b",".join([b"1" * 4299] * 880) + b"]}",
    "a long float": b'{"data": [0.' + b"1" * 100 + b"]}",
    "300,000 empty lists": b'{"data": [' + b"[]," * 299_999 + b"[]]}",
    "nesting 200 deep": b'{"data": ' + b"[" * 200 + b"]" * 200 + b"}",
}


@pytest.mark.parametrize("name", LEGIT)
def test_what_the_page_sends_passes(name: str) -> None:
    body = LEGIT[name]
    assert len(body) <= LIMITS.max_bytes
    assert _judge(body) is None


@pytest.mark.parametrize("name", HOSTILE)
def test_shapes_that_cost_more_than_their_bytes_are_refused(name: str) -> None:
    body = HOSTILE[name]
    assert len(body) <= LIMITS.max_bytes
    verdict = _judge(body)
    assert verdict not in (None, INVALID), verdict


@pytest.mark.parametrize("body", [b"{", b'{"data": [1, 2,]}', b"\xff\xfe{}", b'{"a": "' + b"x" * INLINE_BYTES + b"}"])
def test_what_is_not_json_is_told_apart_inline_and_in_the_worker(body: bytes) -> None:
    assert _judge(body) == INVALID


def test_small_bodies_are_judged_inline_by_the_same_rules() -> None:
    wide = b'{"data": [{' + b",".join(b'"k%d":1' % i for i in range(LIMITS.max_keys + 1)) + b"}]}"
    assert len(wide) <= INLINE_BYTES
    assert _judge(wide) == "an object with too many keys"
    assert _judge(b'{"data": [' + b"9" * (LIMITS.max_number_chars + 1) + b"]}") == "a number with too many digits"


def test_a_stopped_worker_is_started_again() -> None:
    big = LEGIT["an imported 2 MB conversation"]

    async def twice() -> tuple[str | None, str | None]:
        judge = BodyJudge(LIMITS)
        try:
            first = await judge.fault(big)
            await judge.close()  # as after a timeout
            return first, await judge.fault(HOSTILE["49,000 turns"])
        finally:
            await judge.close()

    assert asyncio.run(twice()) == (None, "a list with too many items")
