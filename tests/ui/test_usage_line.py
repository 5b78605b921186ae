"""The usage line under the chat: today's chats, tokens and dollars, next to the limits in force and
what is spent against each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import gradio as gr
from starlette.requests import Request

from config.settings import Settings
from conversation.request import ChatInputs
from conversation.service import ChatService
from tests.conftest import canary
from tests.fake_provider import FakeProvider
from ui.handlers import PageHandlers


def _request() -> gr.Request:
    return gr.Request(request=Request({"type": "http", "client": ("127.0.0.1", 4321), "headers": [], "state": {}}))


def _chat(handlers: PageHandlers) -> None:
    inputs = ChatInputs(
        message="hi",
        history=[],
        provider_id="groq",
        model="priced",
        system_prompt="Be brief.",
        temperature=0.5,
        max_tokens=100,
    )

    async def run() -> None:
        async for _ in handlers.service.reply(handlers.caller(_request()), inputs):
            pass

    asyncio.run(run())


def test_the_usage_line_shows_todays_spend_next_to_each_limit(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    settings = settings_for(
        GROQ_API_KEY=canary("server"),
        MODEL_PRICES="groq:priced=1000/1000",
        DAILY_SPEND_LIMIT="0.25",
        SPEND_LIMIT="5/day;100/month",
        DAILY_TOKEN_LIMIT="1000",
    )
    handlers = PageHandlers(ChatService(settings))
    assert handlers.usage_text(_request()) == (
        "Your usage today: 0 chats, 0 of 1,000 tokens. Limits on the server's keys: 1,000 tokens per day, "
        "$0 of $0.25 today for you, $0 of $5.00 per day for everyone, $0 of $100.00 per month for everyone."
    )
    _chat(handlers)
    # 11 tokens in and 3 out at a tenth of a cent each.
    assert handlers.usage_text(_request()) == (
        "Your usage today: 1 chat, 14 of 1,000 tokens ($0.014). Limits on the server's keys: 1,000 tokens per "
        "day, $0.014 of $0.25 today for you, $0.014 of $5.00 per day for everyone, $0.014 of $100.00 per month "
        "for everyone."
    )


def test_without_spend_limits_the_line_still_shows_what_the_chats_cost(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    handlers = PageHandlers(
        ChatService(settings_for(GROQ_API_KEY=canary("server"), MODEL_PRICES="groq:priced=1000/1000"))
    )
    _chat(handlers)
    assert handlers.usage_text(_request()) == (
        "Your usage today: 1 chat, 14 tokens ($0.014). No limits on the server's keys."
    )
