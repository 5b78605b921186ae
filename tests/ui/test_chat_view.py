"""How a reply reads in the page: the numbers line and the thinking's settled state."""

from __future__ import annotations

import json

from conversation.text import STOPPED_MARK, reply_model, without_annotations
from conversation.transcript import export_json
from providers.chat import ReplyStats, Usage
from ui.chat_view import stats_line
from ui.handlers import mark_stopped, settle_thinking


def test_a_fast_reply_is_not_total_zero_seconds() -> None:
    fast = stats_line(ReplyStats(Usage(11, 6, False), 0.0001, 0.04))
    assert "first token 1 ms" in fast and "total 40 ms" in fast and "0.0" not in fast
    assert "total 2.3 s" in stats_line(ReplyStats(Usage(11, 6, False), 0.5, 2.34))


def test_stop_mid_thought_settles_the_thinking_and_marks_the_reply() -> None:
    thinking = {
        "role": "assistant",
        "content": "hmm",
        "metadata": {"title": "Thinking", "status": "pending", "duration": 1.4},
    }
    history = [{"role": "user", "content": "hi"}, thinking]
    settled = mark_stopped(history)
    assert settled[1]["metadata"] == {"title": "Thinking", "status": "done", "duration": 1.4}
    assert settled[2] == {"role": "assistant", "content": STOPPED_MARK.lstrip()}
    # Settling again (Stop, then the reply's end) changes nothing.
    assert mark_stopped(settled) == settled and settle_thinking(settled) == settled
    # An error bubble is left as it is.
    error = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "x", "metadata": {"title": "⚠ Timed out"}},
    ]
    assert mark_stopped(error) == error and settle_thinking(error) == error


def test_the_numbers_line_names_the_model_and_exports_read_it_back() -> None:
    reply = "six" + stats_line(ReplyStats(Usage(11, 1, False), 0.1, 0.2), "gpt-4.1-mini")
    assert reply_model(reply) == "gpt-4.1-mini" and without_annotations(reply) == "six"
    history = [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": reply}]
    # The model the reply came from, not the one in the model box now.
    assert json.loads(export_json(history, "", "gpt-5"))["model"] == "gpt-4.1-mini"
    assert json.loads(export_json(history[:1], "", "gpt-5"))["model"] == "gpt-5"
    # A model id that could break the line out of its span is left out, not written.
    assert reply_model(stats_line(ReplyStats(Usage(1, 1, False), 0.1, 0.2), "a<b")) is None
