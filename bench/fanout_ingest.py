"""Ingest over HTTP with fan-out off and with four targets (up, down), no worker running.

Each configuration: replace the targets, empty the outbox and the broker, wait out the
gunicorn processes' target cache, then time single-statement POSTs and batch-100 POSTs
(``bench.loadgen``, as the main ingest bench does) and check what was queued: one Delivery
per (statement, target), each dispatched, and the broker messages that took.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.fanout_db import (
    dispatch_settle_seconds,
    outbox_counts,
    outbox_reset,
    queue_length,
    statement_count,
    targets_cache_seconds,
    targets_configure,
)
from bench.ingest import PhaseMark, load_figures
from bench.loadgen import Target, run_load
from bench.statements import StatementFactory

RATIO_AIM = 0.8


@dataclass(frozen=True)
class FanoutIngestLimits:
    threads: int = 6
    seconds: float = 15.0
    single_requests: int = 8_000  # count bounds above what 15 s reach here; the time bound rules
    batch_requests: int = 250
    batch_size: int = 100
    warmup_requests: int = 100
    warmup_batches: int = 10


def _encode(item: Any) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode()


def apply_targets(urls: list[str], redis_url: str) -> None:
    """New target set, empty outbox and broker; then wait until gunicorn's caches expired."""
    targets_configure(urls)
    outbox_reset(redis_url)
    time.sleep(targets_cache_seconds() + 1.0)


def measure_configuration(
    target: Target,
    factory: StatementFactory,
    limits: FanoutIngestLimits,
    redis_url: str,
    targets: int,
    conninfo: str,
) -> dict[str, Any]:
    """Single and batch-100 POST rates, what they cost per statement (``bench.cpu``), and the
    outbox/broker check, for the current targets."""
    before = statement_count()
    singles = [_encode(factory.statement()) for _ in range(limits.single_requests + limits.warmup_requests)]
    single_mark = PhaseMark(conninfo)
    single = run_load(
        target,
        method="POST",
        path="/xapi/statements",
        bodies=singles,
        threads=limits.threads,
        max_requests=limits.single_requests,
        max_seconds=limits.seconds,
        warmup_requests=limits.warmup_requests,
        on_timed_start=single_mark.set,
    )
    single_figures = load_figures(single, 1, single_mark)
    del singles
    batches = [
        _encode(factory.batch(limits.batch_size))
        for _ in range(limits.batch_requests + limits.warmup_batches)
    ]
    batch_mark = PhaseMark(conninfo)
    batch = run_load(
        target,
        method="POST",
        path="/xapi/statements",
        bodies=batches,
        threads=limits.threads,
        max_requests=limits.batch_requests,
        max_seconds=limits.seconds,
        warmup_requests=limits.warmup_batches,
        on_timed_start=batch_mark.set,
    )
    batch_figures = load_figures(batch, limits.batch_size, batch_mark)
    del batches
    time.sleep(dispatch_settle_seconds())  # the last dispatch message, gathered under load
    stored = statement_count() - before
    posts = single.requests + batch.requests + limits.warmup_requests + limits.warmup_batches
    outbox = outbox_counts()
    queued = queue_length(redis_url)
    check = {
        "statements_stored": stored,
        "deliveries_expected": stored * targets,
        # No worker runs: the outbox batches stand for the deliveries a worker will write.
        "deliveries_in_outbox": outbox["deliveries"],
        "outbox_batches": outbox["batches"],
        "outbox_batches_dispatched": outbox["dispatched"],
        "tasks_in_redis": queued,  # one per broker message (stored batches share them)
        "tasks_per_post": round(queued / posts, 2) if posts else 0.0,
        "ok": outbox["deliveries"] == stored * targets
        and outbox["batches"] == outbox["dispatched"]
        and (queued > 0) == (targets > 0),
    }
    return {
        "targets": targets,
        "single_post": single_figures,
        "batch_100_post": batch_figures,
        "outbox_check": check,
    }


def measure_fanout_ingest(
    target: Target,
    factory: StatementFactory,
    limits: FanoutIngestLimits,
    redis_url: str,
    urls: dict[str, str],
    log: Callable[[str], None],
    conninfo: str,
    rounds: int = 3,
) -> dict[str, Any]:
    """Rounds of fan-out off, four targets up, four targets down (the order rotating from round to
    round), each ratio taken against the fan-out-off run of its own round: the machine's speed
    drifts by a third over minutes on a shared host, and a ratio of runs minutes apart measured
    the drift more than the fan-out."""
    plan = {"off": [], "four_up": [urls["up"]] * 4, "four_down": [urls["down"]] * 4}
    labels = list(plan)
    per_round: list[dict[str, Any]] = []
    for round_index in range(rounds):
        shift = round_index % len(labels)
        results: dict[str, Any] = {}
        for label in labels[shift:] + labels[:shift]:
            apply_targets(plan[label], redis_url)
            figures = measure_configuration(target, factory, limits, redis_url, len(plan[label]), conninfo)
            results[label] = figures
            _log_configuration(log, f"{label} #{round_index + 1}", figures)
        per_round.append({label: results[label] for label in labels})
    outbox_reset(redis_url)
    return {
        "rounds": per_round,
        "configurations": {label: _combined([r[label] for r in per_round]) for label in labels},
        "ratios": fanout_ratios(per_round),
    }


def _log_configuration(log: Callable[[str], None], name: str, figures: dict[str, Any]) -> None:
    single, batch, check = figures["single_post"], figures["batch_100_post"], figures["outbox_check"]
    errors = single["errors"] + batch["errors"]
    log(
        f"  {name:12} single {single['statements_per_s']:8,.1f}/s  "
        f"batch-100 {batch['statements_per_s']:8,.1f}/s"
        f"  {check['deliveries_in_outbox']:,} deliveries, {check['tasks_in_redis']:,} broker messages "
        f"({'ok' if check['ok'] else 'MISMATCH'})"
        f"{f', {errors} errors: ' + (single['first_error'] or batch['first_error']) if errors else ''}"
    )


def _mean_costs(costs: list[dict[str, float]]) -> dict[str, float]:
    keys = set.intersection(*(set(cost) for cost in costs)) if costs else set()
    return {key: round(statistics.mean(cost[key] for cost in costs), 3) for key in sorted(keys)}


def _combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration over all rounds: mean rates, median latencies, summed counts."""

    def load(kind: str) -> dict[str, Any]:
        figures = [run[kind] for run in runs]
        return {
            "statements_per_s": round(statistics.mean(f["statements_per_s"] for f in figures), 1),
            "latency_p50_ms": round(statistics.median(f["latency_p50_ms"] for f in figures), 2),
            "latency_p95_ms": round(statistics.median(f["latency_p95_ms"] for f in figures), 2),
            "requests": sum(f["requests"] for f in figures),
            "errors": sum(f["errors"] for f in figures),
            "first_error": next((f["first_error"] for f in figures if f["first_error"]), ""),
            "cost_per_statement": _mean_costs([f.get("cost_per_statement") or {} for f in figures]),
        }

    checks = [run["outbox_check"] for run in runs]
    return {
        "targets": runs[0]["targets"],
        "single_post": load("single_post"),
        "batch_100_post": load("batch_100_post"),
        "outbox_check": {
            "deliveries_in_outbox": sum(c["deliveries_in_outbox"] for c in checks),
            "tasks_in_redis": sum(c["tasks_in_redis"] for c in checks),
            "ok": all(c["ok"] for c in checks),
        },
    }


def fanout_ratios(per_round: list[dict[str, Any]]) -> dict[str, Any]:
    """With-4-targets / fan-out-off within each round; the median over the rounds is the figure."""
    ratios: dict[str, Any] = {"aim": RATIO_AIM, "rounds": len(per_round)}
    for kind in ("single_post", "batch_100_post"):
        for label in ("four_up", "four_down"):
            values = []
            for results in per_round:
                off = results["off"][kind]["statements_per_s"]
                values.append(round(results[label][kind]["statements_per_s"] / off, 3) if off else 0.0)
            ratios[f"{kind}_{label}_vs_off"] = round(statistics.median(values), 3)
            ratios[f"{kind}_{label}_vs_off_per_round"] = values
    return ratios
