"""The CPU that counting and pricing add per chat, next to the counting a chat had before them.

    python -m bench.metering                # 5 rounds of 2,000 chats each way, a few seconds
    python -m bench.metering --chats 500 --rounds 3

In one process, with the in-memory counter store and no network (the provider is not involved:
only what happens around a reply is measured). Per chat:

- before: what a reply's end cost until spend limits came: charge the tokens, record the usage,
  write the usage line.
- now: admission's worst case priced and reserved against a per-client and a site-wide spend
  limit, then the reply's end through the ledger: the usage priced (genai-prices' table, gpt-5),
  tokens charged, the reservation settled, usage and dollars recorded, the usage line written.

The rounds alternate the two, so drift hits both alike; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import time
from collections.abc import Callable

from config.settings import load_settings
from conversation.metering import Chat, worst_case_tokens
from conversation.service import ChatService
from providers.chat import ChatStream, Usage
from providers.request import ChatRequest

KEY = "sk-bench-" + "0" * 32
CLIENT = "ip:192.0.2.1"


def _service() -> ChatService:
    env = {
        "OPENAI_API_KEY": KEY,
        "RATE_LIMIT": "off",
        "DAILY_TOKEN_LIMIT": "1000000000",
        "DAILY_SPEND_LIMIT": "100000",
        "SPEND_LIMIT": "100000/day;100000/month",
    }
    return ChatService(load_settings(env, dotenv_path=None))


def _request(service: ChatService) -> ChatRequest:
    provider = service.settings.provider("openai")
    assert provider is not None
    messages = (
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Tell me about the weather in a few sentences. " * 4},
    )
    return ChatRequest(provider=provider, model="gpt-5", messages=messages, temperature=1.0, max_tokens=1024)


def _finished(request: ChatRequest) -> ChatStream:
    stream = ChatStream(request, key=None, timeout=60)
    stream.usage = Usage(prompt_tokens=60, completion_tokens=240, estimated=False)
    return stream


def before(service: ChatService, request: ChatRequest) -> Callable[[], None]:
    log = logging.getLogger("byok_chat.usage")

    def one() -> None:
        usage = _finished(request).usage
        assert usage is not None
        service.quotas.charge(CLIENT, usage.total_tokens)
        service.quotas.record(CLIENT, request.provider.id, usage.total_tokens)
        log.info(
            "chat client=%s provider=%s model=%s key=%s outcome=%s prompt_tokens=%s completion_tokens=%s%s%s",
            CLIENT, request.provider.id, request.model, "server", "ok", usage.prompt_tokens,
            usage.completion_tokens, "", "",
        )  # fmt: skip

    return one


def now(service: ChatService, request: ChatRequest) -> Callable[[], None]:
    def one() -> None:
        prompt, output = worst_case_tokens(request)
        worst = service.prices.cost(request.provider, request.model, prompt, output)
        assert worst is not None
        reservation = service.spend.reserve(CLIENT, worst)
        chat = Chat(CLIENT, request.provider, request.model, "server")
        service.ledger.open(chat, _finished(request), reservation).settle("ok")

    return one


def _cpu_per_chat(work: Callable[[], None], chats: int) -> float:
    started = time.process_time()
    for _ in range(chats):
        work()
    return (time.process_time() - started) / chats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    # The usage line is formatted and written, as in the app, but to memory.
    usage_log = logging.getLogger("byok_chat.usage")
    usage_log.addHandler(logging.StreamHandler(io.StringIO()))
    usage_log.setLevel(logging.INFO)
    usage_log.propagate = False
    service = _service()
    request = _request(service)
    cases = {"before": before(service, request), "now": now(service, request)}
    for work in cases.values():
        _cpu_per_chat(work, 50)  # warm-up: the price table loads on first use
    results: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(args.rounds):
        order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
        for name in order:
            results[name].append(_cpu_per_chat(cases[name], args.chats))
    medians = {name: statistics.median(values) * 1e6 for name, values in results.items()}
    print(f"CPU per chat around a reply ({args.rounds} rounds of {args.chats:,} chats, medians):")
    print(f"  before (count tokens, record, log):           {medians['before']:8.1f} µs")
    print(f"  now (+ price, reserve and settle the spend):  {medians['now']:8.1f} µs")
    print(f"  ratio now / before:                           {medians['now'] / medians['before']:8.2f}x")


if __name__ == "__main__":
    main()
