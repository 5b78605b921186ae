"""CPU time of byok-chat's provider adapter alone, in one process: ``ChatStream`` against the
bench fake, no Gradio around it. Run by ``bench/sections/transport.py`` once per checkout, with
that checkout first on PYTHONPATH, so the same script measures whichever adapter the tree holds
(today's openai SDK transport, or the raw SSE reader it replaced).

    python bench/transport_probe.py --fake http://127.0.0.1:P/v1 --chats 200 --plans chunks-20-0 chunks-2000-0

Prints one JSON line: where ``providers`` was imported from, and per plan the process CPU
seconds per chat (median of ``--repeats`` batches of ``--chats`` chats, one chat at a time, after
a warm-up batch).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import time

import providers
from config.secret import Secret
from providers import PROVIDERS, ChatRequest, ChatStream, close_pools

# A made-up key: the fake accepts anything.
KEY = "sk-bench-not-a-real-key"


def request_for(fake_url: str, plan: str) -> ChatRequest:
    groq = next(p for p in PROVIDERS if p.id == "groq")
    return ChatRequest(
        provider=dataclasses.replace(groq, base_url=fake_url),
        model=plan,
        messages=({"role": "system", "content": "Be brief."}, {"role": "user", "content": f"hello {plan}"}),
        temperature=None,
        max_tokens=512,
    )


async def one_chat(request: ChatRequest) -> int:
    updates = 0
    async for _ in ChatStream(request, key=Secret(KEY), timeout=30.0):
        updates += 1
    return updates


async def measure(fake_url: str, plans: list[str], chats: int, repeats: int) -> dict[str, list[float]]:
    cpu: dict[str, list[float]] = {plan: [] for plan in plans}
    try:
        for plan in plans:
            request = request_for(fake_url, plan)
            for _ in range(max(5, chats // 4)):  # warm-up: connections, first-call caches
                await one_chat(request)
            for _ in range(repeats):
                before = time.process_time()
                for _ in range(chats):
                    await one_chat(request)
                cpu[plan].append((time.process_time() - before) / chats)
    finally:
        await close_pools()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake", required=True, help="the bench fake's base URL")
    parser.add_argument("--plans", nargs="+", default=["chunks-20-0", "chunks-2000-0"])
    parser.add_argument("--chats", type=int, default=100, help="chats per batch")
    parser.add_argument("--repeats", type=int, default=3, help="batches per plan")
    args = parser.parse_args()
    cpu = asyncio.run(measure(args.fake, args.plans, args.chats, args.repeats))
    print(
        json.dumps(
            {
                "providers": providers.__file__,
                "cpu_per_chat": {plan: statistics.median(values) for plan, values in cpu.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
