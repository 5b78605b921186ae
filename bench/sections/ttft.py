"""1. Time to first token, one chat at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bench import client
from bench.report import ms, pct
from bench.sections.common import LABEL, TTFT_PLAN, Bench, chunks_of


async def ttft_raw(b: Bench, names: Sequence[str]) -> dict[str, list[float]]:
    """Interleaved rounds, so drifting machine load hits every target alike."""
    targets = [b.target(n) for n in names]
    expected = chunks_of(TTFT_PLAN)
    found: dict[str, list[float]] = {n: [] for n in names}
    for round_index in range(b.sizes.warmup + b.sizes.ttft_runs):
        for name, target in zip(names, targets, strict=True):
            result = await target.chat(f"hello {TTFT_PLAN}", TTFT_PLAN, expected)
            if round_index >= b.sizes.warmup and result.ok and result.ttft is not None:
                found[name].append(result.ttft)
    return found


def ttft_gradio_client(b: Bench, names: Sequence[str]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for name in names:
        endpoint = b.endpoints[name]
        multimodal = endpoint.input_types[0] == "multimodaltextbox"
        runs = b.sizes.warmup + b.sizes.ttft_runs
        times = client.ttft_gradio_client(
            endpoint.url, endpoint.api_name, multimodal, message=f"hello {TTFT_PLAN}", model=TTFT_PLAN, runs=runs
        )
        found[name] = times[b.sizes.warmup :]
    return found


async def section_ttft(b: Bench) -> None:
    r = b.report
    r.text(f"## 1. Time to first token, one chat at a time ({b.sizes.ttft_runs} chats each, reply {TTFT_PLAN})")
    r.text()
    raw = await ttft_raw(b, ["direct", *b.byoks(), "loadchat", "bare"])
    gc = await asyncio.to_thread(ttft_gradio_client, b, [*b.byoks(), "loadchat", "bare"])
    floor50, floor95 = pct(raw["direct"], 50), pct(raw["direct"], 95)
    rows = []
    for client_name, table in (("raw", raw), ("gradio_client", gc)):
        for name, values in table.items():
            p50, p95 = pct(values, 50), pct(values, 95)
            shown = "-" if name == "direct" else client_name
            rows.append([LABEL[name], shown, ms(p50), ms(p95), ms(p50 - floor50), ms(p95 - floor95), str(len(values))])
    r.table(["target", "client", "TTFT p50 ms", "TTFT p95 ms", "added p50 ms", "added p95 ms", "n"], rows)
    r.text("Added = minus the direct SDK's p50/p95 (same fake, same run). The bare app calls no provider, so its")
    r.text("added time can be below zero: it is the framework's own cost minus the provider round trip.")
    r.text()
