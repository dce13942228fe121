"""The drain's throughput, each figure beside a floor measured in the same run (issue 14's aims).

With the default worker (``celery -A config worker``: prefork, one process per core) and the
bench's instant receiver (``bench.instant_receiver``: asyncio keep-alive, answers at once or after
``--delay``):

- **instant**: queue ``instant_deliveries`` deliveries to one webhook target (POSTs with no worker
  running), start the worker, time it until every one is delivered; the floor is
  ``bench.fanout_floor`` (our HTTP client code in a tight loop, as many processes as the worker),
  taken seconds before or after each drain over ``instant_rounds`` rounds (``bench.fanout_instant``);
- **ingest with the drain**: batch-100 POSTs for ``ingest_seconds`` with fan-out off and with
  that worker draining what the same ingest queues, alternating over ``ingest_rounds`` rounds; the
  median of the rounds' ratios. Twice: the worker as deployed (ingest first: it yields to a busy
  ingest) and with ingest first off (``LRS_FANOUT_SHARE_UNDER_INGEST=1``: the drain flat out);
  then the host's own share of the flat-out figure (``bench.fanout_idle_load``: ingest beside as
  many idle-priority processes of pure Python work as the worker has, no database);
- **instant, batched**: the instant drain again with the webhook's ``batch_size`` (arrays of
  events; an option, off by default, with no aim of its own);
- **slow**: the receiver answers after ``slow_delay`` seconds; the target has a concurrency cap
  and a rate limit; the drain rate, and the receiver's most requests in flight and busiest second;
- **backfill**: ``manage.py deliveries_backfill`` of every stored statement into a new target, with
  no worker running: its rate, peak memory, and the time it projects for 1,000,000 statements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu import PhaseSnapshot, phase_start
from bench.fanout_db import (
    delivery_counts,
    dispatch_settle_seconds,
    finished,
    outbox_counts,
    outbox_reset,
    statement_count,
    targets_cache_seconds,
    targets_configure,
)
from bench.fanout_idle_load import idle_load_rounds
from bench.fanout_ingest import apply_targets
from bench.fanout_instant import instant_rounds
from bench.fanout_worker import drained_rate, measure_drain, queue_deliveries
from bench.loadgen import Target, run_load
from bench.processes import WorkerSpec, _alive, celery_worker, port_accepts, spawned, wait_for
from bench.rounds import alternating_rounds, mean_over, ratio_summary
from bench.server import HOST, ROOT, free_port
from bench.statements import StatementFactory

INSTANT_AIM_PER_S = 1000.0
FLOOR_SHARE_AIM = 0.5
SLOW_AIM_PER_S = 200.0
INGEST_RATIO_AIM = 0.8
BACKFILL_AIM_SECONDS_PER_MILLION = 20 * 60
# The worker setting that turns ingest first off (adapters/delivery/pacing/ingest_first.py).
FLAT_OUT_ENV = "LRS_FANOUT_SHARE_UNDER_INGEST"


@dataclass(frozen=True)
class ThroughputPlan:
    instant_deliveries: int = 20_000
    instant_rounds: int = 3
    slow_deliveries: int = 4_000
    slow_delay: float = 0.2
    slow_concurrency: int = 64
    slow_rate_limit: float = 300.0
    batch_size: int = 50  # the instant target again, as a webhook taking arrays (``batch_size``)
    ingest_seconds: float = 10.0
    ingest_rounds: int = 3
    floor_seconds: float = 5.0
    client_threads: int = 6
    drain_timeout: float = 300.0
    shares: tuple[float, ...] = ()  # LRS_FANOUT_SHARE_UNDER_INGEST values to measure ingest beside


def default_worker() -> WorkerSpec:
    """What ``celery -A config worker`` starts on this machine: prefork, one process per core."""
    return WorkerSpec("prefork", os.cpu_count() or 1)


@contextmanager
def instant_receiver(log_dir: Path, delay: float = 0.0) -> Iterator[tuple[str, Path]]:
    """``bench.instant_receiver`` on a free port; yields its hook URL and its stats file."""
    port = free_port()
    stats = log_dir / f"fanout-receiver-{port}.json"
    log_path = log_dir / f"fanout-instant-receiver-{port}.log"
    argv = [sys.executable, "-m", "bench.instant_receiver", "--port", str(port), "--stats", str(stats)]
    # It stands for a remote system: at niceness 10, the CPU it takes on this shared machine (which a
    # deployment does not pay) weighs less against the LRS's own processes.
    with spawned(["nice", "-n", "10", *argv, "--delay", str(delay)], log_path, grace=5.0) as process:
        wait_for(
            lambda: _alive(process, log_path, "the receiver") or port_accepts(port), 30.0, "the receiver"
        )
        yield f"http://{HOST}:{port}/hook", stats


def receiver_stats(path: Path) -> dict[str, int]:
    time.sleep(0.7)  # the receiver rewrites its stats every half second
    return json.loads(path.read_text()) if path.exists() else {}


def _configure(url: str, redis_url: str, **fields: Any) -> None:
    """One target (``bench-hook-0``) at ``url``, with ``fields`` (concurrency, rate limit)."""
    from adapters.models import Target as TargetRow

    apply_targets([url], redis_url)
    if fields:
        TargetRow.objects.update(**fields)


def _batch_ingest(target: Target, factory: StatementFactory, plan: ThroughputPlan) -> dict[str, Any]:
    bodies = [
        json.dumps(factory.batch(100), separators=(",", ":")).encode()
        for _ in range(int(plan.ingest_seconds * 80))
    ]
    result = run_load(
        target,
        method="POST",
        path="/xapi/statements",
        bodies=bodies,
        threads=plan.client_threads,
        max_requests=len(bodies) - 10,
        max_seconds=plan.ingest_seconds,
        warmup_requests=10,
    )
    return {
        "statements_per_s": round(result.rate(100), 1),
        "errors": result.errors,
        "seconds": result.seconds,
    }


def _drain_settled(timeout: float) -> None:
    """Every outbox batch expanded and every delivery finished."""
    wait_for(
        lambda: outbox_counts()["batches"] == 0 and finished(counts := delivery_counts()) >= counts["total"],
        timeout,
        "the drain",
    )


def _ingest_rounds(
    target: Target, factory: StatementFactory, plan: ThroughputPlan, log: Callable[[str], None]
) -> dict[str, Any]:
    """Batch ingest with fan-out off and with the running worker draining what the same ingest
    queues, alternating (off first, then on first) for ``plan.ingest_rounds`` rounds; the ratio is
    the median of each round's own ratio. The machine's speed drifts by a third over minutes, so
    the two rates of one ratio are taken a few seconds apart, not minutes. The target is only
    disabled for "off" (what ingest reads after the cache expires), so the worker stays warm."""
    from adapters.models import Target as TargetRow

    def measure(label: str) -> dict[str, Any]:
        TargetRow.objects.update(enabled=label == "with_drain")
        time.sleep(targets_cache_seconds() + 1.0)
        before = delivery_counts()
        figures = _batch_ingest(target, factory, plan)
        if label == "with_drain":
            during = delivery_counts()
            seconds = figures["seconds"]
            figures["delivered_meanwhile_per_s"] = round(
                (during.get("delivered", 0) - before.get("delivered", 0)) / seconds, 1
            )
            # Whether the worker's expansions kept pace with ingest (rows written) or the
            # outbox batches waited (left over when the ingest stopped).
            figures["expanded_meanwhile_per_s"] = round((during["total"] - before["total"]) / seconds, 1)
            figures["outbox_batches_left"] = outbox_counts()["batches"]
            _drain_settled(plan.drain_timeout)
        return figures

    def log_round(index: int, figures: dict[str, Any]) -> None:
        drain = figures["with_drain"]
        log(
            f"throughput: ingest round {index + 1}: off {figures['off']['statements_per_s']:,.0f}/s, with "
            f"the drain {drain['statements_per_s']:,.0f}/s (drained meanwhile "
            f"{drain['delivered_meanwhile_per_s']:,.0f}/s, deliveries written "
            f"{drain['expanded_meanwhile_per_s']:,.0f}/s, "
            f"{drain['outbox_batches_left']:,} outbox batches left): {figures['ratio']:.2f}"
        )

    per_round = alternating_rounds(plan.ingest_rounds, "off", "with_drain", measure, log_round)
    TargetRow.objects.update(enabled=True)
    return {
        "rounds": per_round,
        "fanout_off": {"statements_per_s": mean_over(per_round, "off")},
        "with_drain": {
            key: mean_over(per_round, "with_drain", key)
            for key in ("statements_per_s", "delivered_meanwhile_per_s", "expanded_meanwhile_per_s")
        },
        **ratio_summary(per_round),
    }


def _idle_load_rounds(
    target: Target,
    factory: StatementFactory,
    plan: ThroughputPlan,
    processes: int,
    log: Callable[[str], None],
) -> dict[str, Any] | None:
    """``fanout_idle_load.idle_load_rounds`` with fan-out off (no worker runs meanwhile)."""
    from adapters.models import Target as TargetRow

    TargetRow.objects.update(enabled=False)
    time.sleep(targets_cache_seconds() + 1.0)
    try:
        return idle_load_rounds(
            lambda: _batch_ingest(target, factory, plan),
            rounds=plan.ingest_rounds,
            processes=processes,
            log=log,
        )
    finally:
        TargetRow.objects.update(enabled=True)


def _batched_drain(
    spec: WorkerSpec,
    env: Mapping[str, str],
    url: str,
    stats_path: Path,
    factory: StatementFactory,
    plan: ThroughputPlan,
    redis_url: str,
    database_url: str,
    log: Callable[[str], None],
    log_dir: Path,
    target: Target,
) -> dict[str, Any]:
    """The instant target's drain again with the webhook's ``batch_size`` (an array of events per
    request): an option for receivers that take arrays, off by default, so no aim of its own."""
    from adapters.models import Target as TargetRow

    outbox_reset(redis_url)
    before_stats = receiver_stats(stats_path)
    row = TargetRow.objects.get()
    TargetRow.objects.filter(pk=row.pk).update(config={**row.config, "batch_size": plan.batch_size})
    # The web processes cache the enabled targets: the idle-load rounds just before had none.
    time.sleep(targets_cache_seconds() + 1.0)
    try:
        queued = queue_deliveries(target, factory, plan.instant_deliveries, plan.client_threads, redis_url)[1]
        if not queued["ok"]:
            raise RuntimeError(f"the batched drain's deliveries were not all queued: {queued}")
        log(f"throughput: {queued['deliveries_in_outbox']:,} deliveries, batch_size {plan.batch_size}")
        before = phase_start(database_url)
        with celery_worker(spec, env, log_dir) as worker:
            drain = measure_drain(worker, queued["deliveries_in_outbox"], plan.drain_timeout)
            drain.pop("progress_delivered", None)
            drain["cost_per_delivery"] = before.per_statement(
                PhaseSnapshot.take(database_url), drain["status_counts"].get("delivered", 0)
            )
    finally:
        TargetRow.objects.filter(pk=row.pk).update(config=row.config)
    after_stats = receiver_stats(stats_path)
    rate = drained_rate(drain)
    log(f"throughput: instant target with batch_size {plan.batch_size}: {rate:,.0f}/s")
    return {
        "batch_size": plan.batch_size,
        "queue": queued,
        "drain": drain,
        "deliveries_per_s": rate,
        "requests": after_stats.get("requests", 0) - before_stats.get("requests", 0),
        "events": after_stats.get("events", 0) - before_stats.get("events", 0),
    }


def measure_throughput(
    env: Mapping[str, str],
    target: Target,
    factory: StatementFactory,
    plan: ThroughputPlan,
    redis_url: str,
    secret: str,
    log_dir: Path,
    log: Callable[[str], None],
    database_url: str,
) -> dict[str, Any]:
    spec = default_worker()
    result: dict[str, Any] = {"worker": " ".join(spec.command[1:]), "plan": plan.__dict__}

    apply_targets([], redis_url)
    log("throughput: batch-100 ingest, fan-out off")
    off = _batch_ingest(target, factory, plan)

    with instant_receiver(log_dir) as (url, stats_path):
        _configure(url, redis_url)
        log("throughput: batch-100 ingest, fan-out on, no worker running (the outbox's own cost)")
        no_worker = _batch_ingest(target, factory, plan)
        time.sleep(dispatch_settle_seconds())  # its last dispatch message, before the reset
        log(
            f"throughput: the instant drain ({plan.instant_deliveries:,} queued, the default worker) and "
            f"its floor (our HTTP client in a tight loop, no database), {plan.instant_rounds} rounds"
        )
        instant = instant_rounds(
            spec,
            env,
            url,
            secret,
            target,
            factory,
            plan,
            redis_url,
            database_url,
            log,
            log_dir,
            lambda: receiver_stats(stats_path),
        )
        with celery_worker(spec, env, log_dir) as worker:
            wait_for(worker.check_ready, 60.0, "the worker")
            log("throughput: ingest with the drain, ingest first (the default)")
            ingest_rounds = _ingest_rounds(target, factory, plan, log)
        # The same rounds with the drain flat out: a worker that never yields to ingest.
        with celery_worker(spec, {**env, FLAT_OUT_ENV: "1"}, log_dir) as flat_out_worker:
            wait_for(flat_out_worker.check_ready, 60.0, "the flat-out worker")
            log(f"throughput: ingest with the drain flat out ({FLAT_OUT_ENV}=1)")
            flat_out_rounds = _ingest_rounds(target, factory, plan, log)
        by_share = {}  # the same rounds beside a drain working a given share of the time under ingest
        for share in plan.shares:
            with celery_worker(spec, {**env, FLAT_OUT_ENV: str(share)}, log_dir) as worker_at_share:
                wait_for(worker_at_share.check_ready, 60.0, f"the worker at {FLAT_OUT_ENV}={share}")
                log(f"throughput: ingest with the drain at {FLAT_OUT_ENV}={share}")
                by_share[str(share)] = _ingest_rounds(target, factory, plan, log)
        log("throughput: ingest beside an idle-priority load with no database (the host's share of flat out)")
        idle_load = _idle_load_rounds(target, factory, plan, spec.concurrency, log)
        result["instant_batched"] = _batched_drain(
            spec, env, url, stats_path, factory, plan, redis_url, database_url, log, log_dir, target
        )
    result["instant"] = instant
    result["ingest"] = {
        "fanout_off_before": off,
        "fanout_on_no_worker": no_worker,
        **ingest_rounds,
        "flat_out": flat_out_rounds,
        "by_share": by_share,
        "idle_cpu_load": idle_load,
    }
    log(
        f"throughput: instant {instant['deliveries_per_s']:,.0f}/s = {instant['share_of_floor']:.2f} of "
        f"the floor {instant['floor']['requests_per_s']:,.0f}/s (medians of {plan.instant_rounds} rounds); "
        f"ingest with the drain {result['ingest']['ratio']:.2f} of off "
        f"(flat out {flat_out_rounds['ratio']:.2f})"
    )

    with instant_receiver(log_dir, delay=plan.slow_delay) as (url, stats_path):
        _configure(
            url, redis_url, concurrency=plan.slow_concurrency, rate_limit_per_second=plan.slow_rate_limit
        )
        queued = queue_deliveries(target, factory, plan.slow_deliveries, plan.client_threads, redis_url)[1]
        log(f"throughput: {queued['deliveries_in_outbox']:,} deliveries to a {plan.slow_delay:g} s target")
        with celery_worker(spec, env, log_dir) as worker:
            slow_drain = measure_drain(worker, queued["deliveries_in_outbox"], plan.drain_timeout)
            slow_drain.pop("progress_delivered", None)
        slow_stats = receiver_stats(stats_path)
    result["slow"] = {
        "delay_s": plan.slow_delay,
        "target_concurrency": plan.slow_concurrency,
        "target_rate_limit_per_s": plan.slow_rate_limit,
        "queue": queued,
        "drain": slow_drain,
        "receiver": slow_stats,
        "deliveries_per_s": drained_rate(slow_drain),
    }
    log(
        f"throughput: 200 ms target {result['slow']['deliveries_per_s']:,.0f}/s, at most "
        f"{slow_stats.get('max_in_flight')} in flight (cap {plan.slow_concurrency}), busiest second "
        f"{slow_stats.get('busiest_second')} (limit {plan.slow_rate_limit:g}/s)"
    )

    result["backfill"] = measure_backfill(env, redis_url, log_dir, log, database_url)
    return result


def measure_backfill(
    env: Mapping[str, str], redis_url: str, log_dir: Path, log: Callable[[str], None], database_url: str
) -> dict[str, Any]:
    """``deliveries_backfill`` of every stored statement into a new target (no worker running:
    the command's own rate), with its peak resident memory sampled from /proc."""
    outbox_reset(redis_url)
    targets_configure(["http://127.0.0.1:9/hook"])  # a new target; nothing is sent (no worker)
    statements = statement_count()
    log(f"throughput: backfill of {statements:,} stored statements into a new target")
    command = [sys.executable, "manage.py", "deliveries_backfill", "bench-hook-0", "--no-progress"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak_kib = 0
    while process.poll() is None:
        peak_kib = max(peak_kib, _rss_kib(process.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"deliveries_backfill failed:\n{err[-2000:]}")
    created = delivery_counts()["total"]
    rate = statements / seconds if seconds else 0.0
    figures = {
        "statements": statements,
        "deliveries_created": created,
        "seconds": round(seconds, 2),
        "statements_per_s": round(rate, 1),
        "projected_seconds_for_1m": round(1_000_000 / rate, 1) if rate else None,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "output": out.strip(),
    }
    log(
        f"throughput: backfill {rate:,.0f} statements/s, 1M in "
        f"{(figures['projected_seconds_for_1m'] or 0) / 60:.1f} min "
        f"(peak memory {figures['peak_rss_mib']} MiB)"
    )
    return figures


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
