"""Spend limits in US dollars on the server's keys: per client per day and for everyone, reserved at
the worst case before anything is sent, settled at the real cost, shared by replicas."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from config.settings import load_settings
from conversation.service import ChatService
from errors import ConfigError, QuotaExceeded
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env
from tests.fake_provider import FakeProvider
from tests.replicas import redis_server, start_replica
from tests.web.test_counter_outage import PAUSED, RedisServer

# A tenth of a cent a token, so every number below is easy to check: the fake reports 11 prompt
# tokens and one per word of "You said: hi" (3), so each chat costs exactly $0.014.
PRICED = "groq:priced=1000/1000;groq:echo-100=1000/1000"
CHAT_COST = 0.014


def _chat(running: RunningApp, model: str = "priced", **headers: str) -> raw.EventResult:
    return raw.chat(running.url, model, headers=headers)


@pytest.mark.parametrize(
    ("env", "daily", "everyone"),
    [
        ({"DAILY_SPEND_LIMIT": "0.25"}, 0.25, ()),
        ({"DAILY_SPEND_LIMIT": "$2"}, 2.0, ()),
        ({"DAILY_SPEND_LIMIT": "off", "SPEND_LIMIT": "0.5/day"}, None, ("$0.50 per day",)),
        (
            {"SPEND_LIMIT": "5/day; 100 per month;1.5/hour"},
            None,
            ("$5.00 per day", "$100.00 per month", "$1.50 per hour"),
        ),
        ({"DAILY_SPEND_LIMIT": "0", "SPEND_LIMIT": "off"}, None, ()),
    ],
)
def test_spend_limits_take_dollars_with_fractions(
    env: dict[str, str], daily: float | None, everyone: tuple[str, ...]
) -> None:
    settings = load_settings(env, dotenv_path=None)
    assert settings.daily_spend_limit == daily
    assert tuple(str(w) for w in settings.spend_limit) == everyone


@pytest.mark.parametrize(
    ("env", "advice"),
    [
        ({"DAILY_SPEND_LIMIT": "a lot"}, "DAILY_SPEND_LIMIT must be a number"),
        ({"DAILY_SPEND_LIMIT": "-1"}, "DAILY_SPEND_LIMIT must be a number from 0"),
        ({"SPEND_LIMIT": "5"}, "SPEND_LIMIT must look like 5/day or 0.5/day;100/month"),
        ({"SPEND_LIMIT": "5/week"}, "per hour, day or month"),
        ({"SPEND_LIMIT": "0/day"}, "more than 0"),
        ({"SPEND_LIMIT": "5/day;6/day"}, "two limits per day"),
    ],
)
def test_a_malformed_spend_limit_says_how_to_write_it(env: dict[str, str], advice: str) -> None:
    with pytest.raises(ConfigError, match=advice):
        load_settings(env, dotenv_path=None)


def test_one_client_at_its_daily_limit_is_refused_while_another_is_served(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(
        settings_for(
            GROQ_API_KEY=canary("server"), MODEL_PRICES=PRICED, DAILY_SPEND_LIMIT="0.05", TRUSTED_PROXIES="127.0.0.1"
        )
    )
    first = {"x-forwarded-for": "192.0.2.1"}
    # $0.014 a chat: admitted at $0, 0.014, 0.028 and 0.042 (under $0.05), refused at $0.056.
    outcomes = [_chat(running, **first) for _ in range(5)]
    assert [r.success for r in outcomes] == [True, True, True, True, False]
    refusal = outcomes[-1].error or ""
    assert "Your spending limit on this server's key ($0.05 per day) is used up." in refusal
    assert "It resets in" in refusal and "(at 00:00 UTC)" in refusal
    assert "X-Provider-Key" in refusal  # a script is told its way out
    page = _chat(running, **first, **{"x-gradio-user": "app"})
    # Read as the page gets it (JSON), not as a Python repr, which escapes the apostrophe.
    shown = json.dumps(page.output, ensure_ascii=False)
    assert "Your spending limit on this server's key ($0.05 per day) is used up. It resets in" in shown
    assert "Spending limit reached" in shown and "X-Provider-Key" not in shown
    assert len(provider.chat_requests) == 4

    assert _chat(running, **{"x-forwarded-for": "192.0.2.2"}).success
    spent = running.service.spend.spent_today("ip:192.0.2.1")
    assert spent.client == pytest.approx(4 * CHAT_COST) and spent.client_limit == 0.05
    assert running.service.spend.spent_today("ip:192.0.2.2").client == pytest.approx(CHAT_COST)
    refused = [r.getMessage() for r in caplog.records if "chat refused" in r.getMessage()]
    assert refused == ["chat refused client=ip:192.0.2.1 provider=groq reason=SpendLimitReached"] * 2


def test_visitor_keys_never_count_against_the_operators_money(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    running = launch(settings_for(GROQ_API_KEY=canary("server"), MODEL_PRICES=PRICED, SPEND_LIMIT="0.01/day"))
    assert _chat(running).success
    assert not _chat(running).success
    # The visitor's own key: served, and an unpriced model is no reason to refuse it.
    own = {"x-provider-key": canary("visitor")}
    assert all(_chat(running, model, **own).success for model in ("priced", "priced", "m"))
    assert running.service.spend.spent_today("ip:127.0.0.1").everyone[0][1] == pytest.approx(CHAT_COST)


def test_a_model_without_a_price_is_refused_on_the_server_key_naming_model_prices(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), SPEND_LIMIT="5/day"))
    script = _chat(running, "my-unlisted-model")
    page = _chat(running, "my-unlisted-model", **{"x-gradio-user": "app"})
    assert not script.success and "MODEL_PRICES" in (script.error or "")
    assert "has no known price" in str(page.output) and "MODEL_PRICES" in str(page.output)
    # A model in genai-prices' table goes through.
    assert _chat(running, "llama-3.1-8b-instant").success
    assert len(provider.chat_requests) == 1
    reasons = [r.getMessage().split("reason=")[1] for r in caplog.records if "chat refused" in r.getMessage()]
    assert reasons == ["ModelNotPriced", "ModelNotPriced"]


def test_a_burst_of_clients_passes_the_site_limit_by_at_most_one_replys_worst_case(
    launch: Callable[..., RunningApp], settings_for: Callable[..., object], provider: FakeProvider
) -> None:
    limit = 0.1
    running = launch(
        settings_for(
            GROQ_API_KEY=canary("server"), MODEL_PRICES=PRICED, SPEND_LIMIT=f"{limit}/day", TRUSTED_PROXIES="*"
        )
    )
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")

    async def one(address: str) -> raw.EventResult:
        async with httpx.AsyncClient(timeout=60, headers={"x-forwarded-for": address}) as client:
            return await raw.run_event_async(
                client, running.url, index, raw.chat_data(cfg, "hi", "groq", "echo-100", max_tokens=50)
            )

    async def everyone() -> list[raw.EventResult]:
        return await asyncio.gather(*(one(f"198.51.100.{i}") for i in range(30)))

    results = asyncio.run(everyone())
    served = sum(r.success for r in results)
    # The worst case of one reply: its prompt ("Be brief." and "hi", 11 bytes, 8 tokens each for
    # framing) and 50 tokens out, at $0.001 a token.
    worst = (11 + 16 + 50) * 0.001
    billed = served * CHAT_COST
    assert served >= 1 and billed <= limit + worst, (served, billed)
    assert all("This site's spending limit" in (r.error or "") for r in results if not r.success)
    assert len(provider.chat_requests) == served
    # Thirty arrived together, within one reply's time: most were refused.
    assert served <= 10, served
    # Every reservation was settled at the real cost: the counter holds what was billed.
    assert running.service.spend.spent_today("x").everyone[0][1] == pytest.approx(billed)


@pytest.mark.slow  # replicas: two app processes and a redis-server
def test_two_replicas_share_the_site_limit_through_redis(provider: FakeProvider, tmp_path: Path) -> None:
    with redis_server() as redis_url:
        env = routed_env(
            provider,
            GROQ_API_KEY=canary("server"),
            MODEL_PRICES=PRICED,
            SPEND_LIMIT="0.03/day",
            RATE_LIMIT_STORAGE=redis_url,
        )
        replicas = [start_replica(env, tmp_path), start_replica(env, tmp_path)]
        try:
            outcomes = []
            for _ in range(2):
                for _, url, _ in replicas:
                    cfg = raw.config(url)
                    outcomes.append(
                        raw.run_event(url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, "hi", "groq", "priced"))
                    )
        finally:
            for process, _, _ in replicas:
                process.terminate()
                process.wait(10)
        # $0.014 each: admitted at $0, 0.014 and 0.028 whichever replica took them; refused at 0.042.
        assert [r.success for r in outcomes] == [True, True, True, False]
        assert "This site's spending limit on this server's key ($0.03 per day) is used up" in (
            outcomes[-1].error or ""
        )
        counted = ChatService(load_settings(env, dotenv_path=None)).spend.spent_today("x")
        assert counted.everyone[0][1] == pytest.approx(3 * CHAT_COST)


@pytest.mark.slow  # starts, stops and restarts a redis-server
def test_spend_limits_fail_closed_while_the_counter_store_is_down(
    launch: Callable[..., RunningApp], fake: FakeProvider, provider: FakeProvider
) -> None:
    redis = RedisServer()
    redis.start()
    try:
        env = routed_env(
            fake, GROQ_API_KEY=canary("server"), MODEL_PRICES=PRICED, SPEND_LIMIT="5/day", RATE_LIMIT_STORAGE=redis.url
        )
        # No request or token limits: the spend limit is the only thing that asks the store.
        running = launch(load_settings(env, dotenv_path=None))
        assert _chat(running).success
        redis.stop()
        paused = _chat(running)
        assert not paused.success and PAUSED in (paused.error or "")
        assert len(provider.chat_requests) == 1
        assert _chat(running, **{"x-provider-key": canary("visitor")}).success
        redis.start()
        deadline = time.monotonic() + 30
        while not (result := _chat(running)).success:
            assert time.monotonic() < deadline, result.error
            time.sleep(0.5)
    finally:
        redis.stop()


def test_every_refused_chat_writes_one_log_line(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), RATE_LIMIT="1/minute"))
    assert _chat(running, "m").success
    assert not _chat(running, "m").success  # over the rate limit
    cfg = raw.config(running.url)
    no_key = raw.run_event(running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, "hi", "openai", "m"))
    assert not no_key.success  # OpenAI has no server key here, and none was sent
    lines = [r.getMessage() for r in caplog.records if r.name == "byok_chat.usage"]
    assert len(lines) == 3
    assert lines[1] == "chat refused client=ip:127.0.0.1 provider=groq reason=QuotaExceeded"
    assert lines[2] == "chat refused client=ip:127.0.0.1 provider=openai reason=KeyRequired"


def test_a_chat_refused_for_spend_uses_up_no_request(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The quota is counted only once the spend limit has said yes: a visitor at their spending
    limit keeps every request of RATE_LIMIT for when it resets."""
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(
        settings_for(
            GROQ_API_KEY=canary("server"), MODEL_PRICES=PRICED, DAILY_SPEND_LIMIT="0.01", RATE_LIMIT="2/minute"
        )
    )
    # $0.014 a chat: the first is admitted at $0, every later one is over $0.01.
    assert [_chat(running).success for _ in range(4)] == [True, False, False, False]
    reasons = [r.getMessage().split("reason=")[1] for r in caplog.records if "chat refused" in r.getMessage()]
    assert reasons == ["SpendLimitReached"] * 3
    assert len(provider.chat_requests) == 1
    # One request of the two is still there: the refusals counted none.
    running.service.quotas.has_room("ip:127.0.0.1")
    running.service.quotas.admit("ip:127.0.0.1")
    with pytest.raises(QuotaExceeded):
        running.service.quotas.has_room("ip:127.0.0.1")


def test_a_monthly_limit_says_on_which_day_it_resets() -> None:
    from config.prices import SpendWindow
    from config.storage import CounterStore
    from errors import SpendLimitReached
    from web.spend import Spend

    store = CounterStore("memory://")
    spend = Spend(store, daily_per_client=None, everyone=(SpendWindow(1.0, "month"),))
    held = spend.reserve("a", 0.75)
    # The month's counter lives to the month's end and a day past it, not a day from now.
    ((key, drop_at),) = held.counters
    assert drop_at - time.time() > 86_400 and store.storage.get_expiry(key) == pytest.approx(drop_at, abs=2)
    spend.settle(held, 1.25)  # the reply cost more than its worst case: all of it counts
    with pytest.raises(SpendLimitReached) as refused:
        spend.reserve("b", 0.01)
    assert "This site's spending limit on this server's key ($1.00 per month) is used up." in str(refused.value)
    # "(at 00:00 UTC on 1 January)", or "(at 00:00 UTC)" on the last day of a month.
    assert "(at 00:00 UTC" in str(refused.value) and refused.value.retry_after > 0
    assert spend.spent_today("b").everyone[0][1] == pytest.approx(1.25)
