"""The fan-out bench's summary: a table on stdout and ``bench/results/fanout.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.cpu import cost_table
from bench.fanout_throughput import (
    BACKFILL_AIM_SECONDS_PER_MILLION,
    FLAT_OUT_ENV,
    FLOOR_SHARE_AIM,
    INGEST_RATIO_AIM,
    INSTANT_AIM_PER_S,
    SLOW_AIM_PER_S,
)


def _mark(value: float, aim: float) -> str:
    return "ok" if value >= aim else "BELOW AIM"


def _ingest_lines(ingest: dict[str, Any]) -> list[str]:
    lines = [
        f"{'ingest, no worker running':26} {'single/s':>9} {'p50 ms':>7} {'batch-100/s':>12} {'p50 ms':>7} "
        f"{'deliveries':>10} {'broker msgs':>11} {'errors':>6}"
    ]
    for label, figures in ingest["configurations"].items():
        single, batch, check = figures["single_post"], figures["batch_100_post"], figures["outbox_check"]
        name = f"{label} ({figures['targets']} targets)"
        lines.append(
            f"{name:26} {single['statements_per_s']:>9,.1f} {single['latency_p50_ms']:>7.1f} "
            f"{batch['statements_per_s']:>12,.1f} {batch['latency_p50_ms']:>7.1f} "
            f"{check['deliveries_in_outbox']:>10,} {check['tasks_in_redis']:>11,} "
            f"{single['errors'] + batch['errors']:>6}"
            f"{'' if check['ok'] else '  OUTBOX MISMATCH'}"
        )
    ratios = ingest["ratios"]
    aim = ratios["aim"]
    lines.append("")
    for label, name in (("four_up", "4 targets UP  "), ("four_down", "4 targets DOWN")):
        single = ratios[f"single_post_{label}_vs_off"]
        batch = ratios[f"batch_100_post_{label}_vs_off"]
        single_rounds = ", ".join(f"{v:.2f}" for v in ratios[f"single_post_{label}_vs_off_per_round"])
        batch_rounds = ", ".join(f"{v:.2f}" for v in ratios[f"batch_100_post_{label}_vs_off_per_round"])
        lines.append(
            f"{name} / fan-out off: single {single:5.3f} {_mark(single, aim):9}  "
            f"batch-100 {batch:5.3f} {_mark(batch, aim):9}  (rounds: single {single_rounds}; "
            f"batch {batch_rounds})"
        )
    lines.append(
        f"(aim >= {aim}; each ratio against the fan-out-off run of the same round, median of "
        f"{ratios['rounds']} rounds; the table shows means over the rounds)"
    )
    return lines + _cost_lines(ingest["configurations"])


def _cost_lines(configurations: dict[str, Any]) -> list[str]:
    """What a stored statement cost in each configuration (bench.cpu, means over the rounds)."""
    rows = []
    for label, figures in configurations.items():
        for kind in ("single_post", "batch_100_post"):
            cost = figures[kind].get("cost_per_statement") or {}
            if cost:
                rows.append((f"{label} {kind.removesuffix('_post')}", cost))
    if not rows:
        return []
    return [
        "",
        "per stored statement (each timed run starts after a CHECKPOINT): CPU us (rest = machine less "
        "server and bench: PostgreSQL, Redis, the rest), WAL bytes",
        *cost_table(rows, ("server", "rest", "machine", "wal_bytes"), width=26),
    ]


def _probe_lines(probes: dict[str, Any]) -> list[str]:
    off, on = probes["post_fanout_off"], probes["post_4_targets"]
    publish, send = probes["publish"], probes["delivery_send"]
    lines = [
        "in-process, one request at a time   off ms   4 targets ms  (outbox rows         publishing)  "
        "msgs  SQL off -> on"
    ]
    for kind in ("single", "batch_100"):
        a, b = off[kind], on[kind]
        lines.append(
            f"{kind + ' POST':34} {a['ms']:>7.1f} {b['ms']:>14.1f}   ({b['outbox_rows_ms']:>17.1f} "
            f"{b['publish_ms']:>12.1f})  {b['broker_messages']:>4}  {a['sql']} -> {b['sql']}"
        )
    lines += [
        f"one deliver.apply_async: median {publish['apply_async_median_us']} us "
        f"(p95 {publish['apply_async_p95_us']}) vs raw Redis LPUSH of the same {publish['message_bytes']} "
        f"bytes: {publish['raw_lpush_median_us']} us",
        f"one delivery_send in-process: {send.get('queries')} SQL, {send.get('mean_ms')} ms",
    ]
    return lines


def _worker_lines(workers: dict[str, Any]) -> list[str]:
    lines = [
        f"{'worker draining':18} {'queued':>7} {'ready s':>8} {'all s':>7} {'/s start':>9} {'/s ready':>9} "
        f"{'/s in-DB':>9} {'task ms p50':>11} {'HTTP ms':>8}"
    ]
    for label, phase in workers.items():
        drain = phase["drain"]
        lines.append(
            f"{label:18} {drain['deliveries']:>7,} {drain['worker_ready_after_s'] or 0:>8.2f} "
            f"{drain['seconds_start_to_all_final']:>7.2f} {drain['deliveries_per_s_from_start']:>9.1f} "
            f"{drain['deliveries_per_s_from_ready']:>9.1f} "
            f"{drain['deliveries_per_s_first_attempt_to_last']:>9.1f} "
            f"{drain.get('task_runtime_p50_ms', 0):>11.1f} {drain['attempt_duration_avg_ms']:>8.1f}"
            f"{'  TIMED OUT' if drain['timed_out'] else ''}"
        )
    lines.append(
        "(/s from the worker process start, from its 'ready.', and first attempt to last delivery in "
        "the Delivery table; task ms: Celery's 'succeeded in'; HTTP ms: the Attempt's duration)"
    )
    e2e_rows = [(label, phase["e2e"]) for label, phase in workers.items() if phase.get("e2e")]
    if e2e_rows:
        first = e2e_rows[0][1]
        lines += [
            "",
            f"end-to-end, stored -> target received ({first['rate_per_s']:g} statements/s for "
            f"{first['seconds']:g}s, one target, worker running)",
            f"{'worker':18} {'arrived':>8} {'missing':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   "
            f"p50 ms of: stored->row created, ->first attempt, ->arrival, ->delivered",
        ]
        for label, e2e in e2e_rows:
            delay, stages = e2e["delay_stored_to_arrival"], e2e["stages"]
            parts = ", ".join(
                f"{stages[name]['p50_ms']:.1f}"
                for name in (
                    "stored_to_created",
                    "created_to_attempt",
                    "attempt_to_arrival",
                    "arrival_to_delivered",
                )
            )
            lines.append(
                f"{label:18} {e2e['arrived']:>8} {e2e['missing']:>8} {delay['p50_ms']:>8.1f} "
                f"{delay['p95_ms']:>8.1f} {delay['max_ms']:>8.1f}   {parts}"
            )
        for label, e2e in e2e_rows:
            by_name = (e2e.get("worker_tasks") or {}).get("tasks_by_name") or {}
            tasks = ", ".join(f"{name} {v['count']} x {v['mean_ms']:.1f} ms" for name, v in by_name.items())
            lines.append(f"  {label} ran during the load: {tasks or 'nothing logged'}")
    return lines


def summary_lines(summary: dict[str, Any]) -> list[str]:
    loads = " / ".join(f"{value:.1f}" for value in summary["load_average_at_start"])
    lines = [
        f"LRS fan-out bench — run took {summary['seconds_total']:.0f}s on {summary['machine']['cpus']} cpus "
        f"(load average at start {loads}); {summary['server']}",
        "",
    ]
    engine = summary.get("engine") or {}
    lines.insert(
        1,
        f"engine: {engine.get('commit')} {engine.get('subject')!r}"
        f"{' + uncommitted changes' if engine.get('uncommitted') else ''}",
    )
    if summary.get("engine_changed_during_run"):
        lines.insert(2, "WARNING: the engine sources changed during the run: figures mix two versions")
    if summary.get("probes"):
        lines += [*_probe_lines(summary["probes"]), ""]
    if summary.get("ingest"):
        lines += [*_ingest_lines(summary["ingest"]), ""]
    if summary.get("throughput"):
        lines += [*throughput_lines(summary["throughput"]), ""]
    if summary.get("workers"):
        lines += _worker_lines(summary["workers"])
    return lines


def write_results(summary: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def _cost_text(cost: dict[str, float]) -> str:
    parts = [f"{group} {cost[group]:,.0f} us" for group in ("worker", "rest", "target") if group in cost]
    return ", ".join([*parts, f"WAL {cost.get('wal_bytes', 0):,.0f} B"]) + " (rest: mostly PostgreSQL)"


def throughput_lines(figures: dict[str, Any]) -> list[str]:
    """The summary's throughput table, each figure against its aim."""

    def mark(ok: bool) -> str:
        return "ok" if ok else "BELOW AIM"

    instant, slow, ingest, backfill = (figures[key] for key in ("instant", "slow", "ingest", "backfill"))
    floor, receiver = instant["floor"], slow["receiver"]
    minutes = (backfill["projected_seconds_for_1m"] or 0) / 60
    instant_ok = instant["deliveries_per_s"] >= INSTANT_AIM_PER_S
    within = (
        receiver.get("max_in_flight", 0) <= slow["target_concurrency"]
        and receiver.get("busiest_second", 0) <= slow["target_rate_limit_per_s"] + 1
    )
    return [
        f"drain throughput, default worker ({figures['worker']})",
        f"  instant target    {instant['deliveries_per_s']:>8,.0f}/s {mark(instant_ok):9} "
        f"floor {floor['requests_per_s']:,.0f}/s ({floor['processes']} processes, no database): "
        f"{instant['share_of_floor']:.2f} of it {mark(instant['share_of_floor'] >= FLOOR_SHARE_AIM)}"
        + _range_text(instant),
        f"{'':20}{instant['drain']['status_counts'].get('delivered', 0):,} delivered, "
        f"{instant['receiver'].get('keys', 0):,} distinct keys at the receiver; per delivery: "
        + _cost_text(instant["drain"].get("cost_per_delivery") or {}),
        *_batched_lines(figures.get("instant_batched")),
        f"  200 ms target     {slow['deliveries_per_s']:>8,.0f}/s "
        f"{mark(slow['deliveries_per_s'] >= SLOW_AIM_PER_S):9} "
        f"most in flight {receiver.get('max_in_flight')} (cap {slow['target_concurrency']}), "
        f"busiest second {receiver.get('busiest_second')} (limit {slow['target_rate_limit_per_s']:g}/s): "
        f"{'within both' if within else 'EXCEEDED'}",
        f"  ingest with drain {ingest['ratio']:>8.2f}   {mark(ingest['ratio'] >= INGEST_RATIO_AIM):9} "
        f"median of {len(ingest['rounds'])} alternating rounds ({ingest['ratio_range'][0]:.2f}-"
        f"{ingest['ratio_range'][1]:.2f}): batch-100 {ingest['with_drain']['statements_per_s']:,.0f}/s "
        f"against {ingest['fanout_off']['statements_per_s']:,.0f}/s with fan-out off "
        f"({ingest['fanout_on_no_worker']['statements_per_s']:,.0f}/s on, no worker, against "
        f"{ingest['fanout_off_before']['statements_per_s']:,.0f}/s off just before); "
        f"drained meanwhile {ingest['with_drain']['delivered_meanwhile_per_s']:,.0f}/s (ingest first, "
        "the default)",
        *_flat_out_lines(ingest.get("flat_out")),
        *_share_lines(ingest.get("by_share") or {}),
        *_idle_load_lines(ingest.get("idle_cpu_load")),
        f"  backfill          {backfill['statements_per_s']:>8,.0f}/s "
        f"{mark(minutes * 60 <= BACKFILL_AIM_SECONDS_PER_MILLION):9} 1M statements in {minutes:.1f} min; "
        f"{backfill['statements']:,} read, peak memory {backfill['peak_rss_mib']} MiB",
        f"(aims: instant >= {INSTANT_AIM_PER_S:,.0f}/s and >= {FLOOR_SHARE_AIM} of the floor; "
        f"200 ms target >= {SLOW_AIM_PER_S:,.0f}/s within cap and limit; ingest >= {INGEST_RATIO_AIM}; "
        "backfill of 1M <= 20 min)",
    ]


def _range_text(instant: dict[str, Any]) -> str:
    """The rounds behind the instant figures (medians); a run saved before they were rounds has none."""
    rounds = instant.get("rounds")
    if not rounds:
        return ""
    low, high = instant["share_range"]
    return f" (median of {len(rounds)} rounds, {low:.2f}-{high:.2f})"


def _batched_lines(batched: dict[str, Any] | None) -> list[str]:
    """The instant target taking arrays (``batch_size``, off by default): no aim of its own."""
    if not batched:
        return []
    return [
        f"  ... batch_size {batched['batch_size']:<3}{batched['deliveries_per_s']:>8,.0f}/s {'(option)':9} "
        f"{batched['drain']['status_counts'].get('delivered', 0):,} delivered in {batched['requests']:,} "
        f"requests ({batched['events']:,} events at the receiver); per delivery: "
        + _cost_text(batched["drain"].get("cost_per_delivery") or {}),
    ]


def _idle_load_lines(idle_load: dict[str, Any] | None) -> list[str]:
    """The host's own share of the flat-out figure (bench/fanout_idle_load.py): no aim of its own."""
    if not idle_load:
        return []
    return [
        f"  ... idle CPU load {idle_load['ratio']:>8.2f}   {'(host)':9} "
        f"({idle_load['ratio_range'][0]:.2f}-{idle_load['ratio_range'][1]:.2f}) beside "
        f"{idle_load['processes']} idle-priority processes of pure Python work, no database: batch-100 "
        f"{idle_load['idle_load']['statements_per_s']:,.0f}/s against "
        f"{idle_load['alone']['statements_per_s']:,.0f}/s (what anything flat out on these cores costs)"
    ]


def _flat_out_lines(flat_out: dict[str, Any] | None) -> list[str]:
    if not flat_out:
        return []
    mark = "ok" if flat_out["ratio"] >= INGEST_RATIO_AIM else "BELOW AIM"
    return [
        f"  ... drain flat out{flat_out['ratio']:>8.2f}   {mark:9} "
        f"({flat_out['ratio_range'][0]:.2f}-{flat_out['ratio_range'][1]:.2f}) with {FLAT_OUT_ENV}=1: "
        f"batch-100 {flat_out['with_drain']['statements_per_s']:,.0f}/s against "
        f"{flat_out['fanout_off']['statements_per_s']:,.0f}/s; drained meanwhile "
        f"{flat_out['with_drain']['delivered_meanwhile_per_s']:,.0f}/s"
    ]


def _share_lines(by_share: dict[str, dict[str, Any]]) -> list[str]:
    """``--shares``: ingest beside a drain working that share of the time under ingest."""
    return [
        f"  ... drain at {share:<5}{rounds['ratio']:>8.2f}   {'':9} "
        f"({rounds['ratio_range'][0]:.2f}-{rounds['ratio_range'][1]:.2f}) with {FLAT_OUT_ENV}={share}: "
        f"batch-100 {rounds['with_drain']['statements_per_s']:,.0f}/s against "
        f"{rounds['fanout_off']['statements_per_s']:,.0f}/s; drained meanwhile "
        f"{rounds['with_drain']['delivered_meanwhile_per_s']:,.0f}/s"
        for share, rounds in by_share.items()
    ]
