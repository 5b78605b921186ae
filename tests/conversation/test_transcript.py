"""Export as Markdown and JSON; import of a JSON export, checked like forged history."""

from __future__ import annotations

import json

import pytest

from conversation.text import CUT_OFF_MARK
from conversation.transcript import MAX_IMPORT_BYTES, MAX_IMPORT_MESSAGES, export_json, export_markdown, parse_import
from errors import InputRejected

# A chat as the browser holds it: typed parts, an error bubble, a reasoning bubble, a cut-off reply.
HISTORY = [
    {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}], "metadata": None},
    {"role": "assistant", "content": "Rate limited, try later", "metadata": {"title": "Rate limited"}},
    {"role": "user", "content": "Again: 2+2?"},
    {"role": "assistant", "content": "Two plus two, carry nothing.", "metadata": {"title": "Thinking"}},
    {"role": "assistant", "content": "4" + CUT_OFF_MARK},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": '6\n\n<span class="reply-stats">12 in · 1 out · total 0.2 s</span>'},
]


def test_json_export_is_an_openai_messages_body_with_the_system_prompt() -> None:
    body = json.loads(export_json(HISTORY, "Be brief.", "gpt-x"))
    assert body == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "user", "content": "Again: 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "6"},
        ],
    }


def test_reasoning_is_exported_only_when_asked() -> None:
    assert "carry nothing" not in export_json(HISTORY, "", "m")
    assert "carry nothing" not in export_markdown(HISTORY, "", "m")
    body = json.loads(export_json(HISTORY, "", "m", include_reasoning=True))
    assert body["messages"][-3] == {
        "role": "assistant",
        "content": "4",
        "reasoning_content": "Two plus two, carry nothing.",
    }
    assert "> Two plus two, carry nothing." in export_markdown(HISTORY, "", "m", include_reasoning=True)
    # Our own error bubbles are never reasoning.
    assert "Rate limited" not in export_json(HISTORY, "", "m", include_reasoning=True)


def test_markdown_export_reads_as_a_conversation() -> None:
    text = export_markdown(HISTORY, "Be brief.", "gpt-x")
    assert text.startswith("# Conversation\n\nModel: `gpt-x`\n\n## System\n\nBe brief.\n")
    assert "## User\n\nWhat is 2+2?" in text
    assert "## Assistant\n\n4\n" in text
    assert CUT_OFF_MARK not in text and "reply-stats" not in text


def test_an_export_imports_back_to_the_same_conversation() -> None:
    imported = parse_import(
        export_json(HISTORY, "Be brief.", "m", include_reasoning=True).encode(), max_message_chars=16_000
    )
    assert imported.system_prompt == "Be brief."
    assert imported.messages == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "user", "content": "Again: 2+2?"},
        {"role": "assistant", "content": "4"},  # reasoning is not brought back
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
    ]


def test_a_bare_message_list_with_text_parts_imports_too() -> None:
    raw = json.dumps([{"role": "user", "content": [{"type": "text", "text": "hi\x00\x1b there"}]}]).encode()
    assert parse_import(raw, max_message_chars=100).messages == [{"role": "user", "content": "hi there"}]


SECRET_TEXT = "<img src=x onerror=alert(1)>-canary-text"

FORGED = {
    "not json": b"{nope",
    "not utf-8": b"\xff\xfe[]",
    "a number": b"42",
    "no messages": json.dumps({"model": "m"}).encode(),
    "an extra top-level field": json.dumps({"messages": [], "api_key": SECRET_TEXT}).encode(),
    "model not text": json.dumps({"model": [1], "messages": [{"role": "user", "content": "x"}]}).encode(),
    "tool role": json.dumps([{"role": "tool", "content": SECRET_TEXT}]).encode(),
    "role not a string": json.dumps([{"role": ["user"], "content": "x"}]).encode(),
    "system later": json.dumps([{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]).encode(),
    "an image part": json.dumps(
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://evil/x.png"}}]}]
    ).encode(),
    "a file path": json.dumps([{"role": "user", "content": {"path": "/etc/passwd"}}]).encode(),
    "a text part with a url": json.dumps(
        [{"role": "user", "content": [{"type": "text", "text": "x", "url": "http://evil"}]}]
    ).encode(),
    "a non-string text part": json.dumps([{"role": "user", "content": [{"type": "text", "text": 5}]}]).encode(),
    "metadata field": json.dumps([{"role": "assistant", "content": "x", "metadata": {"title": "t"}}]).encode(),
    "a list of strings": json.dumps(["hello"]).encode(),
    "only a system prompt": json.dumps([{"role": "system", "content": "x"}]).encode(),
    "too many messages": json.dumps([{"role": "user", "content": "x"}] * (MAX_IMPORT_MESSAGES + 1)).encode(),
    "a huge message": json.dumps([{"role": "user", "content": "x" * 500}]).encode(),
    "too large": b" " * (MAX_IMPORT_BYTES + 1),
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_imports_are_refused_with_a_clear_message(case: str) -> None:
    with pytest.raises(InputRejected) as refused:
        parse_import(FORGED[case], max_message_chars=100)
    message = str(refused.value)
    assert message.startswith(("That file", "That conversation", "Message "))
    assert "canary" not in message and "<img" not in message and "/etc/passwd" not in message
