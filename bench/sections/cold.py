"""5. Cold start."""

from __future__ import annotations

import statistics

from bench.procs import start_app
from bench.report import num, ratio
from bench.sections.common import LABEL, Bench


def section_cold(b: Bench) -> None:
    r = b.report
    runs = b.sizes.cold_runs
    r.text(f"## 5. Cold start: process spawn to first HTTP 200 on / ({runs} runs each, interleaved)")
    r.text()
    names = (*b.byoks(), "bare", "loadchat")
    found: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(runs):
        for name in names:
            app = start_app(b.specs[name], b.fake.url)
            found[name].append(app.started_in)
            app.stop()
    bare = statistics.median(found["bare"])
    rows = [
        [LABEL[n], num(statistics.median(v)), num(min(v)), num(max(v)), ratio(statistics.median(v), bare)]
        for n, v in found.items()
    ]
    r.table(["app", "median s", "min s", "max s", "vs bare"], rows)
