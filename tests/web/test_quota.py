"""Quotas on server keys: atomic under parallel load, per client not per session, shared across
replicas through Redis; usage counted and logged without keys or text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env
from tests.fake_provider import FakeProvider
from tests.replicas import redis_server, start_replica


def _parallel_chats(running: RunningApp, count: int, *, headers: dict[str, str] | None = None) -> list[raw.EventResult]:
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")

    async def everyone() -> list[raw.EventResult]:
        limits = httpx.Limits(max_connections=count * 2)
        async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers or {}) as client:
            return await asyncio.gather(
                *(
                    raw.run_event_async(client, running.url, index, raw.chat_data(cfg, f"hi {i}", "groq", "m"))
                    for i in range(count)
                )
            )

    return asyncio.run(everyone())


def test_rate_limit_holds_under_50_parallel_requests(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(GROQ_API_KEY=canary("server"), RATE_LIMIT="7/minute"))
    results = _parallel_chats(running, 50)
    assert sum(r.success for r in results) == 7
    refused = [r for r in results if not r.success]
    assert len(refused) == 43
    assert all("your requests (7 per minute)" in (r.error or "") for r in refused)
    assert all("Try again in" in (r.error or "") for r in refused)
    # Every one of the 50 had its own session hash: the session is not the client.
    assert len(provider.chat_requests) == 7


def test_a_spoofed_forwarded_for_does_not_escape_the_limit(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(GROQ_API_KEY=canary("server"), RATE_LIMIT="2/minute"))
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")
    results = [
        raw.run_event(
            running.url, index, raw.chat_data(cfg, "hi", "groq", "m"), headers={"x-forwarded-for": f"192.0.2.{i}"}
        )
        for i in range(4)
    ]
    assert [r.success for r in results] == [True, True, False, False]


def test_a_trusted_proxy_gives_each_client_its_own_limit(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(GROQ_API_KEY=canary("server"), RATE_LIMIT="1/minute", TRUSTED_PROXIES="127.0.0.1"))
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")

    def chat_as(address: str) -> bool:
        data = raw.chat_data(cfg, "hi", "groq", "m")
        return raw.run_event(running.url, index, data, headers={"x-forwarded-for": address}).success

    assert [chat_as("192.0.2.1"), chat_as("192.0.2.1"), chat_as("192.0.2.2")] == [True, False, True]


def test_daily_tokens_are_charged_and_enforced(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    # The fake reports 11 prompt tokens plus one per word of the reply.
    running = launch(settings_for(GROQ_API_KEY=canary("server"), DAILY_TOKEN_LIMIT="20"))
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")
    first = raw.run_event(running.url, index, raw.chat_data(cfg, "one two three four five six seven", "groq", "m"))
    assert first.success
    second = raw.run_event(running.url, index, raw.chat_data(cfg, "again", "groq", "m"))
    assert not second.success and "tokens for today" in (second.error or "")
    assert len(provider.chat_requests) == 1
    usage = running.service.usage_today("ip:127.0.0.1")
    assert usage.requests == 1 and usage.tokens == 11 + 9 and usage.token_limit == 20


def test_visitor_keys_are_not_limited_by_server_quotas(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(GROQ_API_KEY=canary("server"), RATE_LIMIT="1/minute"))
    visitor = canary("visitor")
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")
    results = [
        raw.run_event(running.url, index, raw.chat_data(cfg, "hi", "openai", "m"), headers={"x-provider-key": visitor})
        for _ in range(3)
    ]
    assert all(r.success for r in results)


def test_an_open_server_key_gets_default_quotas(fake: FakeProvider) -> None:
    from config.settings import load_settings

    env = routed_env(fake, GROQ_API_KEY=canary("server"))
    del env["RATE_LIMIT"], env["DAILY_TOKEN_LIMIT"]
    settings = load_settings(env, dotenv_path=None)
    assert settings.rate_limit and settings.daily_token_limit
    gated = load_settings({**env, "ACCESS_CODE": "a-long-access-code"}, dotenv_path=None)
    assert not gated.rate_limit and gated.daily_token_limit is None


def test_one_usage_line_per_chat_without_keys_or_text(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_key = canary("server")
    running = launch(settings_for(GROQ_API_KEY=server_key))
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    cfg = raw.config(running.url)
    secret_words = "my-private-message-text"
    assert raw.run_event(
        running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, secret_words, "groq", "m-1")
    ).success
    lines = [r.getMessage() for r in caplog.records if r.name == "byok_chat.usage"]
    assert len(lines) == 1
    line = lines[0]
    for expected in (
        "client=ip:127.0.0.1",
        "provider=groq",
        "model=m-1",
        "key=server",
        "outcome=ok",
        "prompt_tokens=11",
    ):
        assert expected in line
    assert server_key not in line and secret_words not in line


# --- several replicas sharing one Redis -------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.mark.slow  # replicas: two app processes and a redis-server
def test_two_replicas_share_one_limit_through_redis(redis_url: str, provider: FakeProvider, tmp_path: Path) -> None:
    env = routed_env(provider, GROQ_API_KEY=canary("server"), RATE_LIMIT="3/minute", RATE_LIMIT_STORAGE=redis_url)
    replicas = [start_replica(env, tmp_path)[:2], start_replica(env, tmp_path)[:2]]
    try:
        outcomes = []
        for turn in range(4):
            for _, url in replicas:
                cfg = raw.config(url)
                result = raw.run_event(url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, f"hi {turn}", "groq", "m"))
                outcomes.append(result.success)
        assert sum(outcomes) == 3, outcomes
        assert len(provider.chat_requests) == 3
    finally:
        for process, _ in replicas:
            process.terminate()
            process.wait(10)
