"""The big-table part: fill it through ``statement_store``, then time and EXPLAIN the queries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import database
from bench.explain import PlanReport, explain_query, write_explain
from bench.loader import load_statements
from bench.loadgen import Target
from bench.queries import StoredRange, query_types, time_query
from bench.replicate import replicate_to
from bench.statements import Universe

Log = Callable[[str], None]
STATEMENT_TABLES = ("lrs_statement", "lrs_statementagent", "lrs_statementactivity")


def row_counts() -> dict[str, int]:
    from django.db import connection

    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in STATEMENT_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM lrs_statement WHERE voided")
        counts["voided_statements"] = int(cursor.fetchone()[0])
    return counts


@dataclass(frozen=True)
class FillPlan:
    total: int
    processes: int
    max_seconds: float  # cap on the statement_store fill; 0 = none
    replicate: bool  # top up to ``total`` in SQL when the cap is hit


def fill_big_table(url: str, credential_key: str, plan: FillPlan, seed: int, log: Log) -> dict:
    existing = row_counts()["lrs_statement"]
    wanted = max(0, plan.total - existing)
    cap = f", capped at {plan.max_seconds:.0f}s" if plan.max_seconds else ""
    log(f"loading {wanted:,} statements through statement_store ({plan.processes} processes{cap})")
    step = max(wanted // 10, 1)
    marks = {"next": step}

    def progress(done: int, seconds: float) -> None:
        if done >= marks["next"]:
            marks["next"] = done + step
            log(f"  {done:,} stored, {done / seconds:,.0f}/s")

    report = load_statements(
        database_url=url,
        credential_key=credential_key,
        total=wanted,
        seed=seed + 7,
        processes=plan.processes,
        progress=progress,
        max_seconds=plan.max_seconds,
    )
    log(f"loaded {report.statements:,} in {report.seconds:.0f}s ({report.rate:,.0f}/s)")
    copied, copy_seconds = 0, 0.0
    if plan.replicate and report.statements < wanted:
        log(f"time cap hit: topping up to {plan.total:,} by copying rows in SQL")
        copied, copy_seconds = replicate_to(url, plan.total, log)
    log("VACUUM ANALYZE")
    began = time.perf_counter()
    database.vacuum_analyze(url, STATEMENT_TABLES)
    return {
        "statements": report.statements,
        "replicated_in_sql": copied,
        "replicate_seconds": round(copy_seconds, 1),
        "statement_store_time_cap_s": plan.max_seconds,
        "seconds": round(report.seconds, 1),
        "statements_per_s": round(report.rate, 1),
        "processes": plan.processes,
        "batch_size": report.batch_size,
        "vacuum_analyze_seconds": round(time.perf_counter() - began, 1),
        "rows": row_counts(),
    }


def stored_range() -> StoredRange:
    from django.db.models import Max, Min

    from lrs.statements.models import Statement

    bounds = Statement.objects.aggregate(first=Min("stored"), last=Max("stored"))
    return StoredRange(bounds["first"], bounds["last"])


def run_queries(target: Target, repetitions: int, seed: int, explain_path: Path, log: Log) -> dict[str, Any]:
    types = query_types(Universe.build(), stored_range())
    results: dict[str, Any] = {}
    plans: list[PlanReport] = []
    for number, query in enumerate(types):
        timing = time_query(target, query, repetitions=repetitions, warmup=5, seed=seed * 100 + number)
        figures = timing.summary()
        log(f"  {query.name:20} p50 {figures['p50_ms']:7.2f} ms  p95 {figures['p95_ms']:7.2f} ms")
        plan = explain_query(query.name, timing.sample_params)
        plans.append(plan)
        figures["plan"] = plan.summary()
        results[query.name] = figures
    write_explain(plans, explain_path)
    return results
