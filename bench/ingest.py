"""Ingest over HTTP, and the two floors it is measured against, all in one go."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.cpu import PhaseSnapshot, phase_start
from bench.floor_copy import (
    capture_rows,
    copy_rate,
    create_shadow_tables,
    drop_shadow_tables,
    last_stored_pks,
)
from bench.floor_raw import raw_insert_rate, statement_row
from bench.loadgen import LoadResult, Target, run_load
from bench.statements import StatementFactory, Universe


@dataclass(frozen=True)
class IngestLimits:
    threads: int = 6
    seconds: float = 15.0
    single_requests: int = 20_000
    batch_requests: int = 400
    batch_size: int = 100
    warmup_requests: int = 100
    warmup_batches: int = 10
    raw_batches: int = 5000


def _encode(item: Any) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode()


class PhaseMark:
    """Where the timed part of a load starts (after its warm-up): a checkpoint and a snapshot."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.snapshot: PhaseSnapshot | None = None

    def set(self) -> None:
        self.snapshot = phase_start(self.conninfo)

    def split(self, statements: int) -> dict[str, float]:
        if self.snapshot is None:
            return {}
        return self.snapshot.per_statement(PhaseSnapshot.take(self.conninfo), statements)


def load_figures(result: LoadResult, items_per_request: int, mark: PhaseMark | None = None) -> dict[str, Any]:
    stored = (result.requests - result.errors) * items_per_request
    return {
        "cost_per_statement": mark.split(stored) if mark else {},
        "statements_per_s": round(result.rate(items_per_request), 1),
        "requests": result.requests,
        "errors": result.errors,
        "seconds": round(result.seconds, 2),
        "latency_p50_ms": round(result.percentile_ms(0.50), 2),
        "latency_p95_ms": round(result.percentile_ms(0.95), 2),
        "first_error": result.first_error,
    }


def _logged(log: Callable[[str], None], name: str, figures: dict[str, Any]) -> dict[str, Any]:
    error = f", {figures['errors']} errors, first: {figures['first_error']}" if figures.get("errors") else ""
    log(f"  {name:24} {figures['statements_per_s']:>10,.1f} statements/s{error}")
    return figures


def measure_ingest(
    target: Target, conninfo: str, limits: IngestLimits, seed: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Raw executemany floor, Django floor, single POST, batch-100 POST; figures per test."""
    universe = Universe.build()
    factory = StatementFactory(universe, seed=seed)
    singles_needed = limits.single_requests + limits.warmup_requests
    batches_needed = limits.batch_requests + limits.warmup_batches

    batches = [factory.batch(limits.batch_size) for _ in range(batches_needed)]
    raw_rows = [[statement_row(statement) for statement in batch] for batch in batches]
    before = phase_start(conninfo)
    rows, seconds = raw_insert_rate(
        conninfo, raw_rows, threads=limits.threads, max_seconds=limits.seconds, max_batches=limits.raw_batches
    )
    raw = {
        "statements_per_s": round(rows / seconds, 1),
        "rows": rows,
        "seconds": round(seconds, 2),
        "threads": limits.threads,
        "cost_per_statement": before.per_statement(PhaseSnapshot.take(conninfo), rows),
    }
    figures: dict[str, Any] = {"raw_executemany_100": _logged(log, "raw_executemany_100", raw)}
    del raw_rows

    floor_bodies = [_encode(factory.statement()) for _ in range(singles_needed)]
    mark = PhaseMark(conninfo)
    floor = run_load(
        target,
        method="POST",
        path="/bench/floor",
        bodies=floor_bodies,
        threads=limits.threads,
        max_requests=limits.single_requests,
        max_seconds=limits.seconds,
        warmup_requests=limits.warmup_requests,
        on_timed_start=mark.set,
    )
    figures["django_floor_single"] = _logged(log, "django_floor_single", load_figures(floor, 1, mark))
    del floor_bodies

    single_bodies = [_encode(factory.statement()) for _ in range(singles_needed)]
    mark = PhaseMark(conninfo)
    single = run_load(
        target,
        method="POST",
        path="/xapi/statements",
        bodies=single_bodies,
        threads=limits.threads,
        max_requests=limits.single_requests,
        max_seconds=limits.seconds,
        warmup_requests=limits.warmup_requests,
        on_timed_start=mark.set,
    )
    figures["lrs_single_post"] = _logged(log, "lrs_single_post", load_figures(single, 1, mark))
    del single_bodies

    batch_bodies = [_encode(batch) for batch in batches]
    mark = PhaseMark(conninfo)
    batch = run_load(
        target,
        method="POST",
        path="/xapi/statements",
        bodies=batch_bodies,
        threads=limits.threads,
        max_requests=limits.batch_requests,
        max_seconds=limits.seconds,
        warmup_requests=limits.warmup_batches,
        on_timed_start=mark.set,
    )
    figures["lrs_batch_100_post"] = _logged(
        log, "lrs_batch_100_post", load_figures(batch, limits.batch_size, mark)
    )
    stored = (batch.requests - batch.errors) * limits.batch_size
    figures["same_schema_copy_100"] = _logged(
        log, "same_schema_copy_100", same_schema_floor(conninfo, stored, limits.threads)
    )
    return figures


def same_schema_floor(conninfo: str, statements: int, threads: int) -> dict[str, Any]:
    """COPY of the rows the batch test just stored into same-schema tables holding what the real
    ones held before it (``bench.floor_copy``)."""
    pks = last_stored_pks(conninfo, statements)
    batches = capture_rows(conninfo, pks)
    create_shadow_tables(conninfo, filled_below=pks[0] if pks else None)
    try:
        before = phase_start(conninfo)
        rows, seconds = copy_rate(conninfo, batches, threads=threads)
        cost = before.per_statement(PhaseSnapshot.take(conninfo), rows)
    finally:
        drop_shadow_tables(conninfo)
    return {
        "statements_per_s": round(rows / seconds, 1) if seconds else 0.0,
        "rows": rows,
        "seconds": round(seconds, 2),
        "threads": threads,
        "cost_per_statement": cost,
    }


def ingest_ratios(figures: dict[str, Any]) -> dict[str, float]:
    def rate(name: str) -> float:
        return float(figures[name]["statements_per_s"])

    single_floor = rate("django_floor_single")
    raw_floor = rate("raw_executemany_100")
    single = rate("lrs_single_post") / single_floor if single_floor else 0.0
    batch = rate("lrs_batch_100_post") / raw_floor if raw_floor else 0.0
    ratios = {
        "single_post_vs_django_floor": round(single, 3),
        "batch_100_vs_raw_executemany": round(batch, 3),
    }
    if "same_schema_copy_100" in figures:
        copy_floor = rate("same_schema_copy_100")
        ratios["batch_100_vs_same_schema_copy"] = (
            round(rate("lrs_batch_100_post") / copy_floor, 3) if copy_floor else 0
        )
    return ratios
