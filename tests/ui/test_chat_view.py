"""How a reply reads in the page: the numbers line and the thinking's settled state."""

from __future__ import annotations

from conversation.text import STOPPED_MARK
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
