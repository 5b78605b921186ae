"""Percentiles and Markdown tables. The benchmark prints numbers; it never judges them."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def num(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def ratio(a: float, b: float) -> str:
    return "-" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}x"


class Report:
    """Collects Markdown; prints each block as it is made so a long run shows progress."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def text(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def table(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        self.text("| " + " | ".join(header) + " |")
        self.text("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.text("| " + " | ".join(row) + " |")
        self.text()

    def markdown(self) -> str:
        return "\n".join(self.lines) + "\n"
