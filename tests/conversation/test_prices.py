"""Every reply is priced in US dollars: the operator's MODEL_PRICES first, then the genai-prices
table bundled with the package, which is read offline."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from config.prices import ModelPrice, parse_model_prices
from config.settings import load_settings
from errors import ConfigError
from providers.prices import PriceBook
from providers.registry import PROVIDERS
from tests import REPO
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary
from tests.fake_provider import FakeProvider

IDS = [p.id for p in PROVIDERS]
BY_ID = {p.id: p for p in PROVIDERS}
# The providers whose listed models the table prices, every one of them.
TABLE_PROVIDERS = ("openai", "anthropic", "gemini", "groq", "mistral", "deepseek", "openrouter")


def test_model_prices_take_provider_model_and_input_output_per_million() -> None:
    prices = parse_model_prices(" groq:openai/gpt-oss-120b=0.1/0.5 ; ollama:gpt-oss:20b=0/0;hf:*=0.2/0.8;", IDS)
    assert prices == {
        ("groq", "openai/gpt-oss-120b"): ModelPrice(0.1, 0.5),
        ("ollama", "gpt-oss:20b"): ModelPrice(0, 0),
        ("hf", "*"): ModelPrice(0.2, 0.8),
    }
    assert ModelPrice(0.1, 0.5).cost(1_000_000, 2_000_000) == pytest.approx(1.1)


@pytest.mark.parametrize(
    ("spec", "advice"),
    [
        ("gpt-5=1/2", "must look like custom:my-model=0.5/1.5"),
        ("openai:gpt-5", "must look like custom:my-model=0.5/1.5"),
        ("openai:=1/2", "must look like"),
        ("acme:model=1/2", "Use one of: openai,"),
        ("openai:gpt-5=1", "two numbers, input/output in US dollars per million tokens"),
        ("openai:gpt-5=1/x", "such as 0.5/1.5"),
        ("openai:gpt-5=-1/2", "from 0 to 10,000"),
        ("openai:gpt-5=1/nan", "two numbers"),
        ("openai:gpt-5=1/2;openai:gpt-5=2/3", "names openai:gpt-5 twice"),
    ],
)
def test_a_malformed_model_price_says_how_to_write_it(spec: str, advice: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_PRICES") as caught:
        load_settings({"MODEL_PRICES": spec}, dotenv_path=None)
    assert advice in str(caught.value)


def test_the_table_prices_every_listed_model_of_the_big_providers() -> None:
    book = PriceBook({})
    for provider_id in TABLE_PROVIDERS:
        provider = BY_ID[provider_id]
        for model in provider.models:
            cost = book.cost(provider, model, 1_000_000, 1_000_000)
            assert cost is not None and cost > 0, (provider_id, model)
            assert book.source(provider, model) == "genai-prices"
    # gpt-5 at $1.25 in and $10 out per million.
    assert book.cost(BY_ID["openai"], "gpt-5", 1_000_000, 100_000) == pytest.approx(2.25)


def test_only_the_operator_prices_local_servers_and_unknown_models_and_wins_over_the_table() -> None:
    book = PriceBook(parse_model_prices("ollama:*=0/0;hf:openai/gpt-oss-120b=0.1/0.5;openai:gpt-5=1/8", IDS))
    assert book.cost(BY_ID["ollama"], "llama3.2", 1000, 1000) == 0
    assert book.cost(BY_ID["lmstudio"], "local-model", 1000, 1000) is None
    assert book.cost(BY_ID["hf"], "openai/gpt-oss-120b", 1_000_000, 1_000_000) == pytest.approx(0.6)
    assert book.cost(BY_ID["hf"], "meta-llama/Llama-3.1-8B-Instruct", 10, 10) is None
    assert book.cost(BY_ID["openai"], "gpt-5", 1_000_000, 1_000_000) == pytest.approx(9)
    assert book.source(BY_ID["openai"], "gpt-5") == "MODEL_PRICES"
    assert book.cost(BY_ID["openai"], "no-such-model-anywhere", 10, 10) is None
    assert book.source(BY_ID["openai"], "no-such-model-anywhere") is None


def test_pricing_never_touches_the_network() -> None:
    # A fresh interpreter in which any connection or name lookup fails loudly.
    script = textwrap.dedent(
        """
        import socket
        def refuse(*args, **kwargs):
            raise AssertionError("network used")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse
        from providers.prices import PriceBook
        from providers.registry import PROVIDERS
        book = PriceBook({})
        openai = next(p for p in PROVIDERS if p.id == "openai")
        assert book.cost(openai, "gpt-5", 1_000_000, 0) == 1.25
        assert book.cost(openai, "unknown-model", 1, 1) is None
        print("priced offline")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "priced offline" in done.stdout


def test_the_footer_and_the_usage_line_show_the_cost_of_every_priced_reply(
    launch: Callable[..., RunningApp],
    settings_for: Callable[..., object],
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="byok_chat.usage")
    running = launch(settings_for(GROQ_API_KEY=canary("server"), MODEL_PRICES="groq:my-alias=1/2"))
    page = {"x-gradio-user": "app"}
    # The fake reports 11 prompt tokens and one per word of "You said: one two three" (5).
    table, own, unpriced = (
        raw.chat(running.url, model, message="one two three", headers=page)
        for model in ("llama-3.1-8b-instant", "my-alias", "m")
    )
    assert table.success and own.success and unpriced.success
    # $0.05 in and $0.08 out per million: 0.00000095, shown to the sixth decimal.
    assert "11 in · 5 out" in str(table.output) and "$0.000001" in str(table.output)
    assert "$0.000021" in str(own.output)
    assert "$" not in str(unpriced.output)
    lines = [r.getMessage() for r in caplog.records if r.name == "byok_chat.usage"]
    assert [line.split("cost_usd=")[1].split()[0] for line in lines] == ["0.000001", "0.000021", "unpriced"]


def test_tiered_prices_are_left_to_the_table() -> None:
    # Gemini 2.5 Pro costs more per token past 200,000 tokens of prompt.
    book = PriceBook({})
    gemini = BY_ID["gemini"]
    short = book.cost(gemini, "gemini-2.5-pro", 100_000, 0)
    long = book.cost(gemini, "gemini-2.5-pro", 300_000, 0)
    assert short is not None and long is not None
    assert long / 300_000 > short / 100_000
