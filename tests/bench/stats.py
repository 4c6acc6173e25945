"""Percentiles of one run, and medians (with spread) across repeated runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on the sorted values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Figure:
    """One measured quantity over repetitions: the median, and the smallest and largest run."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else math.nan

    @property
    def low(self) -> float:
        return min(self.runs) if self.runs else math.nan

    @property
    def high(self) -> float:
        return max(self.runs) if self.runs else math.nan

    def spread_pct(self) -> float:
        """(max - min) / median, in percent."""
        if not self.runs or self.median == 0:
            return math.nan
        return (self.high - self.low) / abs(self.median) * 100


def figure(runs: Sequence[dict[str, float]], key: str) -> Figure:
    return Figure(tuple(float(run[key]) for run in runs))
