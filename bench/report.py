"""The summary: a table on stdout and ``bench/results/summary.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.cpu import cost_table

SINGLE_AIM = 0.5
BATCH_AIM = 0.25
SAME_SCHEMA_AIM = 0.5


def _mark(ok: bool) -> str:
    return "ok" if ok else "BELOW AIM"


def _loadavg(values: Any) -> str:
    return " / ".join(f"{value:.1f}" for value in values)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"LRS bench — {summary['statements_loaded']:,} statements in the big table, "
        f"run took {summary['seconds_total']:.0f}s",
        f"load average (1/5/15 min): {_loadavg(summary['load_average_at_start'])} at start, "
        f"{_loadavg(summary['load_average_at_end'])} at end (other work on the machine skews figures)",
        "",
    ]
    ingest = summary.get("ingest")
    if ingest:
        lines.append(f"{'ingest':32} {'statements/s':>14} {'p50 ms':>9} {'p95 ms':>9} {'errors':>7}")
        for name, figures in ingest["figures"].items():
            lines.append(
                f"{name:32} {figures['statements_per_s']:>14,.1f} {figures.get('latency_p50_ms', 0):>9.2f} "
                f"{figures.get('latency_p95_ms', 0):>9.2f} {figures.get('errors', 0):>7}"
            )
        ratios = ingest["ratios"]
        single, batch = ratios["single_post_vs_django_floor"], ratios["batch_100_vs_raw_executemany"]
        single_ok, batch_ok = _mark(single >= SINGLE_AIM), _mark(batch >= BATCH_AIM)
        trips = ingest.get("roundtrips") or {}
        lines += [
            "",
            f"single POST / Django floor    {single:6.3f} (aim >= {SINGLE_AIM})  {single_ok}",
            f"batch-100 / raw executemany   {batch:6.3f} (aim >= {BATCH_AIM})  {batch_ok}",
            *_same_schema_line(ratios),
            f"SQL statements per POST: single {trips.get('single_post_queries', '?')}, "
            f"batch of 100 {trips.get('batch_100_post_queries', '?')} (the Django floor: 1)",
            "",
        ]
        lines += _cost_lines(ingest["figures"])
    load = summary.get("load")
    if load:
        lines += [
            f"big-table load via statement_store: {load['statements']:,} in {load['seconds']:.0f}s "
            f"= {load['statements_per_s']:,.0f}/s ({load['processes']} processes, batches of "
            f"{load['batch_size']}); VACUUM ANALYZE {load['vacuum_analyze_seconds']:.0f}s"
        ]
        if load.get("replicated_in_sql"):
            cap, copied = load["statement_store_time_cap_s"], load["replicated_in_sql"]
            lines.append(
                f"  statement_store fill capped at {cap:.0f}s: {copied:,} more rows copied in SQL "
                f"in {load['replicate_seconds']:.0f}s"
            )
        lines.append("")
    queries = summary.get("queries")
    if queries:
        header = f"{'GET /xapi/statements':22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>6}  plan"
        lines.append(header)
        for name, figures in queries.items():
            seq = figures.get("plan", {}).get("seq_scan_tables") or []
            notes = []
            if seq:
                notes.append("SEQ SCAN " + ",".join(seq))
            if figures["over_p95_aim"]:
                notes.append("p95 > 50ms")
            if figures["first_error"]:
                notes.append("ERRORS")
            lines.append(
                f"{name:22} {figures['p50_ms']:>8.2f} {figures['p95_ms']:>8.2f} {figures['max_ms']:>8.2f} "
                f"{figures['statements_per_page']:>6.0f}  {'; '.join(notes) or 'ok'}"
            )
    return lines


def _cost_lines(figures: dict[str, Any]) -> list[str]:
    """CPU and WAL per stored statement (bench.cpu): which side a ratio moved with."""
    rows = [(name, split) for name, item in figures.items() if (split := item.get("cost_per_statement"))]
    if not rows:
        return []
    columns = ("server", "bench", "rest", "machine", "idle", "wal_bytes", "full_page_images")
    lines = [
        "per stored statement: CPU us (machine = all CPUs busy; rest = machine less server and bench: "
        "PostgreSQL and the rest), WAL bytes and full-page images; each test starts after a CHECKPOINT",
        *cost_table(rows, columns, width=32),
    ]
    return [*lines, ""]


def write_summary(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def _same_schema_line(ratios: dict) -> list[str]:
    """batch-100 against COPY of the same rows into the same schema (``bench.floor_copy``)."""
    if "batch_100_vs_same_schema_copy" not in ratios:
        return []
    ratio = ratios["batch_100_vs_same_schema_copy"]
    mark = _mark(ratio >= SAME_SCHEMA_AIM)
    return [f"batch-100 / same-schema COPY  {ratio:6.3f} (aim >= {SAME_SCHEMA_AIM})  {mark}"]
