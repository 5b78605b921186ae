"""Reasoning models and the raw stream reader: the three shapes thinking arrives in, the effort
setting in each provider's own form, the numbers under a reply, and SSE as providers really send it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.request import ChatInputs, build_request
from errors import ProviderError, ReplyCutOff
from providers import ChatStream, Reply, effort_options
from providers.reasoning import ThinkSplitter
from tests import gradio_raw
from tests.conftest import RunningApp, canary, routed_env
from tests.fake_provider import FakeProvider

MESSAGE = "what is seven times six"
THOUGHT = f"Let me think about {MESSAGE} step by step. "
ANSWER = f"You said: {MESSAGE}"


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    error: ProviderError | None = None
    stream: ChatStream | None = None


def run(
    settings: Settings,
    model: str,
    *,
    provider_id: str = "groq",
    effort: str = "default",
    history: list[dict[str, object]] | None = None,
) -> Outcome:
    request = build_request(
        settings,
        ChatInputs(
            message=MESSAGE,
            history=history or [],
            provider_id=provider_id,
            model=model,
            system_prompt="",
            temperature=None,
            max_tokens=100,
            effort=effort,
        ),
    )
    stream = ChatStream(request, key=Secret(canary("reason")), timeout=5.0, max_retries=0)
    outcome = Outcome(stream=stream)

    async def consume() -> None:
        try:
            async for reply in stream.replies():
                outcome.replies.append(reply)
        except ProviderError as error:
            outcome.error = error

    asyncio.run(consume())
    return outcome


@pytest.fixture
def cfg(provider: FakeProvider) -> Settings:
    return load_settings(routed_env(provider), dotenv_path=None)


# --- reading the thinking ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["reason-content", "reason-field", "reason-think"])
def test_each_reasoning_shape_is_read_apart_from_the_answer(cfg: Settings, model: str) -> None:
    outcome = run(cfg, model)
    assert outcome.error is None
    last = outcome.replies[-1]
    assert last.reasoning == THOUGHT
    assert last.text == ANSWER  # no tags, no thinking, no leading blank lines
    assert last.thinking_seconds is not None
    # The thinking showed before any of the answer did.
    assert outcome.replies[0].reasoning and not outcome.replies[0].text
    assert last.stats is not None and last.stats.usage.cost == pytest.approx(0.00042)
    assert not last.stats.usage.estimated
    assert last.stats.first_token_seconds is not None and last.stats.total_seconds >= 0
    assert [r.stats for r in outcome.replies[:-1]] == [None] * (len(outcome.replies) - 1)


def test_reasoning_counts_towards_the_estimate_when_no_usage_comes(cfg: Settings) -> None:
    # Mistral's row asks for no usage; the estimate must include the thinking the model sent.
    outcome = run(cfg, "reason-content", provider_id="mistral")
    usage = outcome.replies[-1].stats.usage
    assert usage.estimated
    assert usage.completion_tokens == (len(THOUGHT) + len(ANSWER) + 3) // 4


def test_the_answer_text_iterator_never_carries_thinking(cfg: Settings) -> None:
    request = build_request(
        cfg,
        ChatInputs(
            message=MESSAGE,
            history=[],
            provider_id="groq",
            model="reason-think",
            system_prompt="",
            temperature=0.5,
            max_tokens=100,
        ),
    )

    async def texts() -> list[str]:
        return [t async for t in ChatStream(request, key=Secret(canary("t")), timeout=5.0)]

    seen = asyncio.run(texts())
    assert seen[-1] == ANSWER
    assert all("think" not in text for text in seen) and "" not in seen


def chunked(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 1000])
def test_think_tags_are_split_off_at_any_chunk_boundary(size: int) -> None:
    text = "  <think>plan: a < b, then </thin k> is not the end</think>\n\nThe answer <think>stays</think>."
    splitter = ThinkSplitter()
    thought, answer = "", ""
    for piece in chunked(text, size):
        t, a = splitter.feed(piece)
        thought, answer = thought + t, answer + a
    t, a = splitter.flush()
    assert thought + t == "plan: a < b, then </thin k> is not the end"
    assert answer + a == "The answer <think>stays</think>."


@pytest.mark.parametrize(
    ("text", "thought", "answer"),
    [
        ("no tags at all", "", "no tags at all"),
        ("<thinking is a word", "", "<thinking is a word"),
        ("<thi", "", "<thi"),  # the stream ended before it was clear: it was text
        ("<think>never closed", "never closed", ""),
        ("   ", "", "   "),
    ],
)
def test_think_splitter_edge_cases(text: str, thought: str, answer: str) -> None:
    splitter = ThinkSplitter()
    got = [splitter.feed(piece) for piece in chunked(text, 2)] + [splitter.flush()]
    assert "".join(t for t, _ in got) == thought
    assert "".join(a for _, a in got) == answer


# --- history -------------------------------------------------------------------------------------


def test_thinking_and_the_numbers_line_never_go_upstream(cfg: Settings, provider: FakeProvider) -> None:
    # History as the page sends it back after a reasoning reply.
    history: list[dict[str, object]] = [
        {"role": "user", "content": [{"type": "text", "text": "first question"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "SECRET-THOUGHT about it"}],
            "metadata": {"title": "Thinking", "status": "done", "duration": 1.2},
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": 'first answer\n\n<span class="reply-stats">11 in · 9 out · total 0.1 s</span>'}
            ],
            "metadata": None,
        },
    ]
    run(cfg, "plain-model", history=history)
    messages = provider.chat_requests[0].body["messages"]
    # system_prompt="" sends no system message: these are all the turns.
    assert messages == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": MESSAGE},
    ]


# --- asking for an effort ----------------------------------------------------------------------

EFFORT_CASES = [
    # provider, model, effort, the fields that must be in the request body
    ("openai", "gpt-5-mini", "high", {"reasoning_effort": "high"}),
    ("openai", "o3-mini", "low", {"reasoning_effort": "low"}),
    ("openai", "gpt-5-mini", "off", {}),
    ("openai", "gpt-4.1-mini", "high", {}),
    ("gemini", "gemini-2.5-flash", "medium", {"reasoning_effort": "medium"}),
    ("gemini", "gemini-2.5-flash", "off", {"reasoning_effort": "none"}),
    ("gemini", "gemini-2.5-pro", "off", {}),
    ("anthropic", "claude-sonnet-4-6", "low", {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
    ("anthropic", "claude-haiku-4-5", "off", {"thinking": {"type": "disabled"}}),
    ("groq", "openai/gpt-oss-120b", "high", {"reasoning_effort": "high"}),
    ("groq", "openai/gpt-oss-120b", "off", {}),
    ("groq", "llama-3.3-70b-versatile", "high", {}),
    ("openrouter", "deepseek/deepseek-r1", "low", {"reasoning": {"effort": "low"}}),
    ("openrouter", "openai/gpt-4o-mini", "off", {"reasoning": {"effort": "none"}}),
    ("deepseek", "deepseek-v4-pro", "high", {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
    ("deepseek", "deepseek-v4-flash", "off", {"thinking": {"type": "disabled"}}),
    ("mistral", "mistral-small-latest", "high", {}),
    ("together", "deepseek-ai/DeepSeek-V3", "high", {}),
    ("openrouter", "openai/gpt-4o-mini", "default", {}),
]
EFFORT_FIELDS = {"reasoning_effort", "reasoning", "thinking"}


@pytest.mark.parametrize(("provider_id", "model", "effort", "expected"), EFFORT_CASES)
def test_effort_is_sent_in_each_providers_own_form_and_only_where_it_applies(
    cfg: Settings, provider: FakeProvider, provider_id: str, model: str, effort: str, expected: dict[str, object]
) -> None:
    run(cfg, model, provider_id=provider_id, effort=effort)
    [request] = provider.chat_requests
    assert {k: v for k, v in request.body.items() if k in EFFORT_FIELDS} == expected


def test_an_unknown_effort_sends_nothing() -> None:
    from providers import PROVIDERS

    openrouter = next(p for p in PROVIDERS if p.id == "openrouter")
    assert effort_options(openrouter.family("any/model").reasoning, "default") == {}
    assert effort_options(None, "high") == {}


def test_claude_thinking_gets_its_budget_on_top_of_the_answers_max_tokens(
    cfg: Settings, provider: FakeProvider
) -> None:
    # Anthropic counts thinking inside max_tokens and refuses a budget that does not fit under it.
    run(cfg, "claude-sonnet-4-6", provider_id="anthropic", effort="high")
    body = provider.chat_requests[-1].body
    assert body["max_tokens"] == 100 + body["thinking"]["budget_tokens"] and "temperature" not in body


# --- the raw reader ----------------------------------------------------------------------------


def test_rare_but_legal_sse_is_read_whole(cfg: Settings) -> None:
    outcome = run(cfg, "sse-quirks")
    assert outcome.error is None, outcome.error
    assert outcome.replies[-1].text == ANSWER
    assert outcome.stream.finish_reason == "stop"


def test_an_error_object_on_a_plain_data_line_ends_the_reply_without_its_text(cfg: Settings) -> None:
    outcome = run(cfg, "error-data")
    assert isinstance(outcome.error, ReplyCutOff)
    assert outcome.error.partial == "word0 word1 "
    assert "exploded" not in str(outcome.error)


def test_a_finished_stream_returns_its_connection_to_the_pool(cfg: Settings, provider: FakeProvider) -> None:
    async def two_chats() -> None:
        for _ in range(2):
            request = build_request(
                cfg,
                ChatInputs(
                    message="hi",
                    history=[],
                    provider_id="groq",
                    model="plain",
                    system_prompt="",
                    temperature=0.5,
                    max_tokens=10,
                ),
            )
            async for _text in ChatStream(request, key=Secret(canary("pool")), timeout=5.0):
                pass

    from providers import close_pools

    async def main() -> None:
        try:
            await two_chats()
        finally:
            await close_pools()

    asyncio.run(main())
    # Read to the end after [DONE], so the second chat reused the first one's connection.
    ports = {r.peer_port for r in provider.chat_requests}
    assert len(provider.chat_requests) == 2 and len(ports) == 1


# --- through the running app, as an API caller -------------------------------------------------


def test_api_callers_get_the_answer_alone_and_pick_an_effort_by_header(
    launch: Callable[[Settings], RunningApp], settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    running = launch(settings_for(GROQ_API_KEY=canary("api-reasoning")))
    cfg = gradio_raw.config(running.url)
    index = gradio_raw.fn_index(cfg, "chat")

    thought = gradio_raw.run_event(running.url, index, gradio_raw.chat_data(cfg, MESSAGE, "groq", "reason-field"))
    assert thought.success, thought.raw
    # The public endpoint keeps its shape: the answer text, no thinking, no numbers line.
    assert thought.output[0] == ANSWER
    assert "Let me think" not in thought.raw and "reply-stats" not in thought.raw

    provider.reset()
    data = gradio_raw.chat_data(cfg, MESSAGE, "groq", "openai/gpt-oss-120b")
    picked = gradio_raw.run_event(running.url, index, data, headers={"X-Reasoning-Effort": "low"})
    assert picked.success, picked.raw
    assert provider.chat_requests[-1].body.get("reasoning_effort") == "low"

    provider.reset()
    nonsense = gradio_raw.run_event(running.url, index, data, headers={"X-Reasoning-Effort": "max<script>"})
    assert nonsense.success, nonsense.raw
    assert "reasoning_effort" not in provider.chat_requests[-1].body
