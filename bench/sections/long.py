"""3. Long replies."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bench.procs import Server
from bench.report import median, num, ratio
from bench.sections.common import LABEL, Bench


@dataclass
class Long:
    cpu: float
    stream_bytes: int
    events: int
    total: float
    ok: bool


async def one_long(b: Bench, name: str, chunks: int) -> Long:
    # "thinking" is byok-chat streaming reasoning chunks, then answer chunks: each kind's cost shows
    # against the plain row. Only the answer comes back to an API caller.
    plan, expected = (f"think-chunks-{chunks}-0", chunks // 2) if name == "thinking" else (f"chunks-{chunks}-0", chunks)
    name = "byok" if name == "thinking" else name
    app = b.apps[name]
    before = app.cpu()
    result = await b.raw_chat(b.endpoints[name])(f"hello {plan}", plan, expected)
    # The last SSE bytes leave before the generator is fully torn down: let it finish.
    await asyncio.sleep(0.2)
    return Long(
        app.cpu() - before - 0.2 * idle_cpu_rate(app), result.stream_bytes, result.events, result.total, result.ok
    )


_IDLE: dict[int, float] = {}


def idle_cpu_rate(app: Server) -> float:
    """CPU seconds per second the app burns with nothing to do (timers, heartbeats)."""
    return _IDLE.get(app.proc.pid, 0.0)


async def measure_idle(app: Server, seconds: float = 2.0) -> None:
    before = app.cpu()
    await asyncio.sleep(seconds)
    _IDLE[app.proc.pid] = (app.cpu() - before) / seconds


async def section_long(b: Bench) -> None:
    r = b.report
    sizes = b.sizes
    r.text(f"## 3. Long replies (chunks sent back to back), one chat at a time, {sizes.length_runs} runs each")
    r.text()
    names = [*b.byoks(), "thinking", "bare", "loadchat"]
    for app_name in dict.fromkeys("byok" if name == "thinking" else name for name in names):
        await measure_idle(b.apps[app_name])
    found: dict[tuple[str, int], list[Long]] = {}
    for chunks in sizes.lengths:
        for _ in range(sizes.length_runs):
            for name in names:
                found.setdefault((name, chunks), []).append(await one_long(b, name, chunks))
    rows = []
    for name in names:
        for chunks in sizes.lengths:
            runs = found[name, chunks]
            rows.append(
                [
                    LABEL[name],
                    f"{chunks:,}",
                    num(median(x.total for x in runs)),
                    num(median(x.cpu / chunks * 1e6 for x in runs), 1),
                    num(median(x.stream_bytes / chunks for x in runs), 1),
                    str(int(median(x.events for x in runs))),
                    f"{sum(x.ok for x in runs)}/{len(runs)}",
                ]
            )
    r.table(["target", "chunks", "reply s", "app CPU µs/chunk", "SSE bytes/chunk", "SSE events", "ok"], rows)
    long_ratios(b, found, names)


def long_ratios(b: Bench, found: dict[tuple[str, int], list[Long]], names: Sequence[str]) -> None:
    short, longest = b.sizes.lengths[0], b.sizes.lengths[-1]
    rows = []
    for name in names:
        cpu_short = median(x.cpu for x in found[name, short])
        cpu_long = median(x.cpu for x in found[name, longest])
        bytes_short = median(x.stream_bytes for x in found[name, short])
        bytes_long = median(x.stream_bytes for x in found[name, longest])
        marginal = (cpu_long - cpu_short) / (longest - short) * 1e6
        rows.append(
            [
                LABEL[name],
                ratio(cpu_long / longest, cpu_short / short),
                num(marginal, 1),
                ratio(bytes_long / longest, bytes_short / short),
                num((bytes_long - bytes_short) / (longest - short), 2),
            ]
        )
    b.report.table(
        [
            "target",
            f"CPU/chunk {longest:,} vs {short:,}",
            "marginal CPU µs/chunk",
            f"bytes/chunk {longest:,} vs {short:,}",
            "marginal bytes/chunk",
        ],
        rows,
    )
    b.report.text("Marginal = (cost at the longest reply - cost at the shortest) / extra chunks: the per-chunk cost")
    b.report.text("without each chat's fixed cost. App CPU has the app's idle CPU over the same time taken off.")
    b.report.text()
