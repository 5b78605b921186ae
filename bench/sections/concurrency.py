"""2. Simultaneous chats."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bench.report import median, ratio
from bench.sections.common import BURST_PLAN, LABEL, Bench, Burst, burst, summarize


async def run_levels(b: Bench, names: Sequence[str], levels: Sequence[int]) -> dict[tuple[str, int], list[Burst]]:
    found: dict[tuple[str, int], list[Burst]] = {}
    for level in levels:
        for repeat in range(b.sizes.repeats):
            # Rotate the order each repeat: no target always runs right after a heavy one.
            order = list(names[repeat % len(names) :]) + list(names[: repeat % len(names)])
            for name in order:
                result = await burst(b, b.target(name), level)
                found.setdefault((name, level), []).append(result)
                await asyncio.sleep(0.5)
    return found


async def section_concurrency(b: Bench) -> dict[tuple[str, int], list[Burst]]:
    r = b.report
    sizes = b.sizes
    r.text(f"## 2. Simultaneous chats (reply {BURST_PLAN}: 20 chunks 50 ms apart), raw client")
    r.text()
    found = await run_levels(b, ["direct", *b.byoks(), "bare"], sizes.levels)
    found.update(await run_levels(b, ["loadchat"], sizes.loadchat_levels))
    header = [
        "chats",
        "target",
        "wall s",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "ok",
        "app CPU ms/chat",
        "fake CPU",
        "client CPU",
    ]
    rows = []
    for level in sizes.levels:
        for name in ("direct", *b.byoks(), "bare", "loadchat"):
            if (name, level) in found:
                rows.append([str(level), LABEL[name], *summarize(found[name, level])])
    r.table(header, rows)
    r.text(f"Medians over {sizes.repeats} repeats per cell (order rotated); ok counts every repeat. CPU columns: the")
    r.text("process's CPU time during the burst / chats (app), or / wall time (fake, client; 100% = one core).")
    if b.pool is not None:
        r.text(
            f"From {sizes.split_from} chats on, the Gradio apps' load came from {b.pool.size} client processes "
            "(bench/loadgen.py); their CPU is summed in the client column."
        )
    r.text(
        f"gr.load_chat ran only at {', '.join(map(str, sizes.loadchat_levels))} simultaneous chats: with its default"
    )
    r.text("concurrency limit of 1 it answers one chat at a time, so N chats take about N x its 1-chat wall time.")
    r.text()
    vs_floor(b, found)
    report_errors(b, found)
    return found


def vs_floor(b: Bench, found: dict[tuple[str, int], list[Burst]]) -> None:
    rows = []
    for name in b.byoks():
        for level in b.sizes.levels:
            ours, bare = found.get((name, level)), found.get(("bare", level))
            if not ours or not bare:
                continue
            lc = found.get(("loadchat", level))
            rows.append(
                [
                    str(level),
                    LABEL[name],
                    ratio(median(x.wall for x in ours), median(x.wall for x in bare)),
                    ratio(median(x.p95 for x in ours), median(x.p95 for x in bare)),
                    ratio(median(x.app_cpu for x in ours), median(x.app_cpu for x in bare)),
                    ratio(median(x.wall for x in lc), median(x.wall for x in ours)) if lc else "-",
                ]
            )
    b.report.table(
        ["chats", "app", "wall vs bare", "TTFT p95 vs bare", "app CPU vs bare", "load_chat wall vs app"], rows
    )


def report_errors(b: Bench, found: dict[tuple[str, int], list[Burst]]) -> None:
    for (name, level), bursts in found.items():
        errors = sorted({e for x in bursts for e in x.errors})
        if errors:
            b.report.text(f"- {LABEL[name]} at {level}: failures: {'; '.join(errors)[:300]}")
    b.report.text()
