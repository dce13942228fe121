"""One Celery worker against one target: draining a queued backlog, then end-to-end delay.

Per worker kind (pool, concurrency): with ONE webhook target (the bench receiver, up),
queue ``deliveries`` deliveries by POSTing that many statements with no worker running,
start the worker and time it (writing the deliveries from the outbox batches included) until
the Delivery table says every one is delivered; then,
with the worker still running, POST ``e2e_rate`` statements/s for ``e2e_seconds`` and
measure, per delivery, receiver arrival minus the statement's ``stored`` (from the
delivered body).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.fanout_db import (
    delivery_counts,
    delivery_key,
    delivery_span,
    delivery_timeline,
    finished,
    outbox_counts,
    pg_sessions,
    queue_length,
)
from bench.fanout_ingest import apply_targets
from bench.loadgen import Target, percentile, run_load
from bench.paced import paced_posts
from bench.processes import RunningWorker, WorkerSpec, celery_worker
from bench.statements import StatementFactory


@dataclass(frozen=True)
class WorkerPlan:
    deliveries: int = 2000
    drain_timeout: float = 300.0
    e2e_rate: float = 20.0
    e2e_seconds: float = 30.0
    e2e_timeout: float = 120.0
    client_threads: int = 6


def _encode(item: Any) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode()


def read_arrivals(path: Path) -> tuple[dict[str, dict[str, Any]], int, int]:
    """First accepted arrival per Idempotency-Key, the number of repeats and of rejected requests."""
    first: dict[str, dict[str, Any]] = {}
    repeats = rejected = 0
    if not path.exists():
        return first, 0, 0
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("rejected"):
            rejected += 1
            continue
        key = record.get("key")
        if key in first:
            repeats += 1
        elif key:
            first[key] = record
    return first, repeats, rejected


def task_runtimes(worker: RunningWorker, offset: int) -> tuple[dict[str, Any], int]:
    """What Celery logged as each task's own run time (``succeeded in Xs``) from ``offset`` in its
    log: all tasks together and per task name; and the log's end offset."""
    with worker.log_path.open("rb") as log:
        log.seek(offset)
        raw = log.read()
    found = re.findall(r"Task ([\w.]+)\[[^\]]*\] succeeded in ([0-9.]+)s", raw.decode(errors="replace"))
    values = [float(seconds) for _, seconds in found]
    per_name: dict[str, list[float]] = {}
    for name, seconds in found:
        per_name.setdefault(name, []).append(float(seconds))
    figures: dict[str, Any] = {
        "tasks_logged": len(values),
        "task_runtime_mean_ms": round(statistics.fmean(values) * 1000, 2) if values else 0.0,
        **{f"task_runtime_{k}": v for k, v in _ms(values).items() if k != "count"},
        "tasks_by_name": {
            name: {"count": len(v), "mean_ms": round(statistics.fmean(v) * 1000, 2)}
            for name, v in per_name.items()
        },
    }
    return figures, offset + len(raw)


def queue_deliveries(
    target: Target, factory: StatementFactory, count: int, threads: int, redis_url: str
) -> tuple[list[str], dict[str, Any]]:
    """POST ``count`` statements in batches of 100 (no worker runs): ``count`` queued deliveries."""
    batches = [factory.batch(min(100, count - start)) for start in range(0, count, 100)]
    ids = [statement["id"] for batch in batches for statement in batch]
    result = run_load(
        target,
        method="POST",
        path="/xapi/statements",
        bodies=[_encode(b) for b in batches],
        threads=threads,
        max_requests=len(batches),
        max_seconds=300.0,
    )
    outbox = outbox_counts()  # the worker writes the deliveries these batches stand for
    check = {
        "posted": len(ids),
        "post_errors": result.errors,
        "first_error": result.first_error,
        "deliveries_in_outbox": outbox["deliveries"],
        "tasks_in_redis": queue_length(redis_url),
        "seconds": round(result.seconds, 2),
    }
    check["ok"] = result.errors == 0 and outbox["deliveries"] == count and check["tasks_in_redis"] > 0
    return ids, check


def measure_drain(worker: RunningWorker, expected: int, timeout: float) -> dict[str, Any]:
    """Poll the Delivery status counts from the worker's start until every delivery is final."""
    progress: list[tuple[float, int]] = []
    next_sample = 0.0
    timed_out = False
    while True:
        worker.check_ready()
        counts = delivery_counts()
        elapsed = time.perf_counter() - worker.started
        if elapsed >= next_sample:
            progress.append((round(elapsed, 2), counts.get("delivered", 0)))
            next_sample = elapsed + 1.0
        if finished(counts) >= expected:
            break
        if elapsed > timeout:
            timed_out = True
            break
        time.sleep(0.1)
    delivered = counts.get("delivered", 0)
    ready = (worker.ready - worker.started) if worker.ready else None
    after_ready = elapsed - ready if ready is not None else None
    span = delivery_span()
    in_db = span["first_attempt_to_last_delivered_s"]
    return {
        "deliveries": expected,
        "status_counts": counts,
        "timed_out": timed_out,
        "seconds_start_to_all_final": round(elapsed, 2),
        "worker_ready_after_s": round(ready, 2) if ready is not None else None,
        "deliveries_per_s_from_start": round(delivered / elapsed, 1) if elapsed else 0.0,
        "deliveries_per_s_from_ready": round(delivered / after_ready, 1) if after_ready else 0.0,
        "deliveries_per_s_first_attempt_to_last": round(delivered / in_db, 1) if in_db else 0.0,
        **span,
        "progress_delivered": progress,
    }


def drained_rate(drain: dict[str, Any]) -> float:
    """A drain's rate: deliveries from its first attempt to its last delivery (worker start-up
    and the final poll left out)."""
    return drain["deliveries_per_s_first_attempt_to_last"]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1) if values else 0.0,
        "count": len(values),
    }


def _stages(keys: list[str], arrivals: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where the delay goes, from the outbox rows (database and worker clocks, same machine)."""
    stages: dict[str, list[float]] = {
        "stored_to_created": [],
        "created_to_attempt": [],
        "attempt_to_arrival": [],
        "arrival_to_delivered": [],
    }
    for key, row in delivery_timeline(keys).items():
        arrival = arrivals.get(key)
        if not (arrival and row["created"] and row["attempt"] and row["delivered"] and row["stored"]):
            continue
        arrived = float(arrival["arrived_at"])
        stages["stored_to_created"].append((row["created"] - row["stored"]).total_seconds())
        stages["created_to_attempt"].append((row["attempt"] - row["created"]).total_seconds())
        stages["attempt_to_arrival"].append(arrived - row["attempt"].timestamp())
        stages["arrival_to_delivered"].append(row["delivered"].timestamp() - arrived)
    return {name: _ms(values) for name, values in stages.items()}


def measure_e2e(
    worker: RunningWorker,
    target: Target,
    factory: StatementFactory,
    plan: WorkerPlan,
    already_final: int,
    arrivals_path: Path,
) -> dict[str, Any]:
    """Paced single POSTs with the worker running; arrival - stored per delivery."""
    statements = [factory.statement() for _ in range(int(plan.e2e_rate * plan.e2e_seconds))]
    load = paced_posts(target, "/xapi/statements", [_encode(s) for s in statements], plan.e2e_rate)
    ok_ids = [statements[index]["id"] for index in load.ok_indexes]
    expected = already_final + len(ok_ids)
    deadline = time.monotonic() + plan.e2e_timeout
    while finished(delivery_counts()) < expected and time.monotonic() < deadline:
        worker.check_ready()  # raises if the worker died
        time.sleep(0.2)
    arrivals, repeats, rejected = read_arrivals(arrivals_path)
    keys = [delivery_key(statement_id) for statement_id in ok_ids]
    delays = []
    for key in keys:
        arrival = arrivals.get(key)
        if arrival and arrival.get("stored"):
            stored = datetime.fromisoformat(arrival["stored"]).timestamp()
            delays.append(float(arrival["arrived_at"]) - stored)
    return {
        "rate_per_s": plan.e2e_rate,
        "seconds": plan.e2e_seconds,
        "load": load.figures(),
        "arrived": len(delays),
        "missing": len(keys) - len(delays),
        "delay_stored_to_arrival": _ms(delays),
        "stages": _stages(keys, arrivals),
        "receiver_repeats_total": repeats,
        "receiver_rejected_total": rejected,
    }


def run_worker_phase(
    spec: WorkerSpec,
    env: Mapping[str, str],
    target: Target,
    factory: StatementFactory,
    plan: WorkerPlan,
    urls: dict[str, str],
    log_dir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    redis_url, hook_url, arrivals_path = urls["redis"], urls["up"], Path(urls["arrivals"])
    apply_targets([hook_url], redis_url)
    ids, queued = queue_deliveries(target, factory, plan.deliveries, plan.client_threads, redis_url)
    log(
        f"  {spec.label}: queued {queued['deliveries_in_outbox']:,} deliveries "
        f"({queued['tasks_in_redis']:,} broker messages) in {queued['seconds']}s, starting the worker"
    )
    if not queued["ok"]:
        log(f"  {spec.label}: queue check failed: {queued}")
    sessions_before = pg_sessions()
    with celery_worker(spec, env, log_dir) as worker:
        drain = measure_drain(worker, queued["deliveries_in_outbox"], plan.drain_timeout)
        time.sleep(1.0)  # let the statistics collector catch up
        drain["postgres_sessions_opened"] = pg_sessions() - sessions_before
        tasks, log_end = task_runtimes(worker, worker.log_offset)
        drain.update(tasks)
        arrivals, _, _ = read_arrivals(arrivals_path)
        drain["receiver_distinct_arrivals"] = sum(1 for i in ids if delivery_key(i) in arrivals)
        log(
            f"  {spec.label}: {drain['status_counts'].get('delivered', 0):,} delivered in "
            f"{drain['seconds_start_to_all_final']}s from start "
            f"(ready after {drain['worker_ready_after_s']}s): "
            f"{drain['deliveries_per_s_from_start']}/s from start, {drain['deliveries_per_s_from_ready']}/s "
            f"from ready{' TIMED OUT' if drain['timed_out'] else ''}"
        )
        e2e = {}
        if plan.e2e_seconds > 0:
            e2e = measure_e2e(worker, target, factory, plan, finished(drain["status_counts"]), arrivals_path)
            e2e["worker_tasks"] = task_runtimes(worker, log_end)[0]
            delay = e2e["delay_stored_to_arrival"]
            log(
                f"  {spec.label}: end-to-end at {plan.e2e_rate:g}/s: p50 {delay['p50_ms']} ms, "
                f"p95 {delay['p95_ms']} ms, max {delay['max_ms']} ms ({e2e['arrived']} arrived, "
                f"{e2e['missing']} missing)"
            )
    return {
        "worker": {
            "pool": spec.pool,
            "concurrency": spec.concurrency,
            "command": " ".join(spec.command[1:]),
            "settings": spec.settings or "bench.settings",
        },
        "queue": queued,
        "drain": drain,
        "e2e": e2e,
    }


def worker_specs(pools: str, threads_concurrency: int) -> list[WorkerSpec]:
    specs = []
    for pool in (name.strip() for name in pools.split(",") if name.strip()):
        if pool == "default":  # what `celery -A config worker` starts: one process per core
            specs.append(WorkerSpec("prefork", os.cpu_count() or 1))
        elif pool == "prefork":
            specs.append(WorkerSpec("prefork", 1))
        elif pool == "threads":
            specs.append(WorkerSpec("threads", threads_concurrency))
        elif pool == "prefork-dbreuse":  # what-if: the worker keeps its database connection
            specs.append(WorkerSpec("prefork", 1, "bench.settings_dbreuse"))
        else:
            raise SystemExit(f"unknown pool {pool!r}: use default, prefork, threads, prefork-dbreuse")
    return specs
