"""Alternating rounds: two configurations measured a few seconds apart, their ratio per round.

The machine's speed drifts by a third over minutes, so each ratio compares two rates taken
seconds apart, and the order alternates from round to round (baseline first, then the other first)
so neither side always runs on the warmer or the cooler half. The summary is the median of the
rounds' ratios and their range. Used by the fan-out bench's ingest rounds
(``fanout_throughput``), its idle-load rounds (``fanout_idle_load``) and its instant drain against
the floor (``fanout_instant``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

RATE = "statements_per_s"


def alternating_rounds(
    rounds: int,
    baseline: str,
    measured: str,
    measure: Callable[[str], dict[str, Any]],
    log_round: Callable[[int, dict[str, Any]], None],
    rate: str = RATE,
) -> list[dict[str, Any]]:
    """Per round, ``measure(label)`` for both labels (the figures of one timed run, with ``rate``),
    and ``ratio``: the measured rate over the baseline's. ``log_round(index, figures)`` after each."""
    per_round: list[dict[str, Any]] = []
    for index in range(rounds):
        order = (baseline, measured) if index % 2 == 0 else (measured, baseline)
        figures: dict[str, Any] = {label: measure(label) for label in order}
        base = figures[baseline][rate]
        figures["ratio"] = round(figures[measured][rate] / base, 3) if base else 0.0
        log_round(index, figures)
        per_round.append(figures)
    return per_round


def mean_over(per_round: list[dict[str, Any]], label: str, key: str = RATE) -> float:
    return round(statistics.mean(round_[label][key] for round_ in per_round), 1)


def ratio_summary(per_round: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [round_["ratio"] for round_ in per_round]
    return {"ratio": round(statistics.median(ratios), 3), "ratio_range": [min(ratios), max(ratios)]}
