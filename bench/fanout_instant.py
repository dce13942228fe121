"""The instant drain against its floor, in alternating rounds (issue 14's first aim).

One drain and one floor taken ten minutes apart gave 0.43 to 0.75 of the floor on the same code
(bench/README.md's history), since the machine's speed drifts by a third over minutes. So each
round takes both a few seconds apart: the floor (``bench.fanout_floor``: our HTTP client code in a
tight loop, no database) and a drain of ``instant_deliveries`` deliveries, queued with no worker
running, by a fresh default worker; the order alternates from round to round (``bench.rounds``).
The share of the floor is the median of the rounds' ratios, the drain rate the median of the
drains; the drain reported in detail (status counts, CPU and WAL per delivery) is the median one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.cpu import PhaseSnapshot, phase_start
from bench.fanout_db import outbox_reset
from bench.fanout_floor import http_floor
from bench.fanout_worker import drained_rate, measure_drain, queue_deliveries
from bench.loadgen import Target
from bench.processes import WorkerSpec, celery_worker
from bench.rounds import alternating_rounds, ratio_summary
from bench.statements import StatementFactory

RATE = "per_s"  # requests per second of the floor, deliveries per second of the drain


def instant_rounds(
    spec: WorkerSpec,
    env: Mapping[str, str],
    url: str,
    secret: str,
    target: Target,
    factory: StatementFactory,
    plan: Any,  # bench.fanout_throughput.ThroughputPlan
    redis_url: str,
    database_url: str,
    log: Callable[[str], None],
    log_dir: Path,
    receiver_stats: Callable[[], dict[str, int]],
) -> dict[str, Any]:
    floor_statements = [factory.statement() for _ in range(500)]

    def measure(label: str) -> dict[str, Any]:
        if label == "floor":
            floor = http_floor(url, secret, floor_statements, spec.concurrency, plan.floor_seconds)
            return {**floor, RATE: floor["requests_per_s"]}
        outbox_reset(redis_url)
        queued = queue_deliveries(target, factory, plan.instant_deliveries, plan.client_threads, redis_url)[1]
        if not queued["ok"]:
            raise RuntimeError(f"the instant drain's deliveries were not all queued: {queued}")
        before = phase_start(database_url)
        with celery_worker(spec, env, log_dir) as worker:
            drain = measure_drain(worker, queued["deliveries_in_outbox"], plan.drain_timeout)
            drain.pop("progress_delivered", None)
            # CPU by process group (rest: mostly PostgreSQL) and WAL, per delivery drained.
            drain["cost_per_delivery"] = before.per_statement(
                PhaseSnapshot.take(database_url), drain["status_counts"].get("delivered", 0)
            )
        # The receiver's counts since it started: distinct keys, repeats, most in flight.
        return {"queue": queued, "drain": drain, "receiver": receiver_stats(), RATE: drained_rate(drain)}

    def log_round(index: int, figures: dict[str, Any]) -> None:
        log(
            f"throughput: instant round {index + 1}: drain {figures['drain'][RATE]:,.0f}/s, floor "
            f"{figures['floor'][RATE]:,.0f}/s: {figures['ratio']:.2f}"
        )

    per_round = alternating_rounds(plan.instant_rounds, "floor", "drain", measure, log_round, rate=RATE)
    middle = sorted(per_round, key=lambda figures: figures["drain"][RATE])[len(per_round) // 2]
    summary = ratio_summary(per_round)
    return {
        "rounds": per_round,
        "queue": middle["drain"]["queue"],
        "drain": middle["drain"]["drain"],
        "receiver": middle["drain"]["receiver"],
        "floor": {
            "processes": spec.concurrency,
            "seconds": plan.floor_seconds,
            "requests_per_s": round(statistics.median(figures["floor"][RATE] for figures in per_round), 1),
        },
        "deliveries_per_s": round(statistics.median(figures["drain"][RATE] for figures in per_round), 1),
        "share_of_floor": summary["ratio"],
        "share_range": summary["ratio_range"],
    }
