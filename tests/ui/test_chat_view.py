"""How a reply reads and looks in the page: the numbers line, the thinking's settled state, and
nothing in a reply that makes the browser fetch from elsewhere or draw over the page."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from conversation.text import (
    STOPPED_MARK,
    ReplyOrigin,
    cut_off_mark,
    cut_off_mark_in,
    last_reply_origin,
    reply_model,
    reply_origin,
    stopped_mark,
    without_annotations,
)
from conversation.transcript import export_json
from errors import ProviderTimeout, ReplyCutOff
from providers.chat import ReplyStats, Usage
from tests import gradio_raw as raw
from tests.conftest import RunningApp
from ui.chat_view import link_remote_media, stats_line
from ui.handlers import mark_stopped, settle_thinking
from words import LANGUAGES


def test_remote_markdown_images_become_links_outside_code_only() -> None:
    text = (
        "See ![chart](https://evil.example/x.png?q=secret) and ![](http://evil.example/y)\n"
        "```md\n![kept](https://example.com/in-code.png)\n```\n"
        "inline `![kept](https://example.com/inline.png)` and ![local](data:image/png;base64,AAAA)"
    )
    out = link_remote_media(text)
    assert "[chart](https://evil.example/x.png?q=secret)" in out and "![chart]" not in out
    assert "[image](http://evil.example/y)" in out
    assert "![kept](https://example.com/in-code.png)" in out
    assert "`![kept](https://example.com/inline.png)`" in out
    assert "![local](data:image/png;base64,AAAA)" in out


def test_replies_lose_forms_inputs_and_inline_styles_outside_code(apps: Callable[..., RunningApp]) -> None:
    overlay = (
        '<a href="/byok/access" style="position:fixed;inset:0;z-index:99">Session expired</a>'
        "<form action=/steal><input name=key type=password><button>Go</button></form>"
        "<span STYLE='top:0'>ok</span>"
    )
    out = link_remote_media(overlay + '\n```html\n<form style="x"></form>\n```')
    assert '<a href="/byok/access">Session expired</a>' in out and "<span>ok</span>" in out
    before_code = out.split("```")[0]
    assert "style" not in before_code.lower() and "<form" not in before_code and "<input" not in before_code
    assert '<form style="x"></form>' in out  # code is shown as written
    # End to end: a reply echoing the overlay reaches the page without it.
    running = apps()
    cfg = raw.config(running.url)
    result = raw.run_event(running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, overlay, "ollama", "fake-model"))
    shown = json.dumps(result.output)
    assert result.success and "Session expired" in shown
    assert "position:fixed" not in shown and "<form" not in shown and "<input" not in shown


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


def test_the_numbers_line_names_the_provider_for_saved_chats_to_read_back() -> None:
    stats = ReplyStats(Usage(11, 1, False), 0.1, 0.2)
    reply = "six" + stats_line(stats, "gpt-4.1-mini", provider_id="openai")
    assert reply_origin(reply) == ReplyOrigin("gpt-4.1-mini", "openai")
    assert without_annotations(reply) == "six"  # nothing of it goes upstream
    history = [{"role": "assistant", "content": reply}, {"role": "user", "content": "and?"}]
    assert last_reply_origin(history) == ReplyOrigin("gpt-4.1-mini", "openai")
    # A reply saved before the line named its provider still gives its model.
    assert reply_origin("six" + stats_line(stats, "gpt-4.1-mini")) == ReplyOrigin("gpt-4.1-mini", None)
    # An id that could break out of the attribute is left out, and the model still read.
    broken = "six" + stats_line(stats, "gpt-4.1-mini", provider_id='x" onmouseover="alert(1)')
    assert "onmouseover" not in broken and reply_origin(broken) == ReplyOrigin("gpt-4.1-mini", None)


@pytest.mark.parametrize("language", LANGUAGES)
def test_our_marks_and_numbers_line_are_ours_in_every_language(language: str) -> None:
    """A chat may go on, or be exported, after the browser switched language: our marks and the
    numbers line are recognised whatever language wrote them."""
    numbers = stats_line(ReplyStats(Usage(11, 6, False), 0.1, 0.2), "gpt-4.1-mini", language=language)
    assert reply_model("six" + numbers) == "gpt-4.1-mini"
    assert without_annotations("six" + numbers) == "six"
    assert without_annotations("six" + stopped_mark(language)) == "six"
    assert without_annotations("six" + cut_off_mark_in(language)) == "six"
    timed_out = cut_off_mark(ReplyCutOff("Groq", partial="six", cause=ProviderTimeout("Groq", seconds=60)), language)
    assert without_annotations("six" + timed_out) == "six"
    if language != "en":
        assert "11 in ·" not in numbers and "Stopped" not in stopped_mark(language)
