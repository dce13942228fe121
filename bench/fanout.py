"""``bash bench/run.sh --fanout``: the fan-out bench, start to finish, on loopback only.

Its own database (``lrs_bench_fanout`` unless ``BENCH_DATABASE_URL`` is set), a private
redis-server as broker, the bench webhook receiver (answering 200) and a refusing port as
targets, gunicorn with ``CELERY_BROKER_URL`` set, and Celery workers started per
measurement. Every process is stopped when the run ends, also on an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import secrets
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from bench import database
from bench.cli import RESULTS, create_credential, log, prepare_database, xapi_target
from bench.django_env import setup_django
from bench.fanout_db import SECRET_ENV
from bench.fanout_ingest import FanoutIngestLimits, measure_fanout_ingest
from bench.fanout_probe import run_probes
from bench.fanout_report import summary_lines, write_results
from bench.fanout_throughput import ThroughputPlan, measure_throughput
from bench.fanout_worker import WorkerPlan, run_worker_phase, worker_specs
from bench.processes import private_redis, refusing_url, webhook_receiver
from bench.server import ROOT, ServerConfig, gunicorn, production_environ
from bench.smoke import smoke_check
from bench.statements import StatementFactory, Universe

DEFAULT_DATABASE = "lrs_bench_fanout"
ENGINE_DIRS = ("adapters", "lrs", "config")


def engine_state() -> dict[str, Any]:
    """Which engine code is measured: the commit, uncommitted engine files, a hash of the sources
    (compared at the end: another session editing the engine mid-run shows up)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted(p for folder in ENGINE_DIRS for p in (ROOT / folder).rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "uncommitted": git("status", "--porcelain", "--", *ENGINE_DIRS).splitlines(),
        "sources_sha256": digest.hexdigest()[:16],
    }


def _terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: every started process is stopped


def run_fanout(args: argparse.Namespace, argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C even when started in the background
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    url = database.bench_database_url(default_name=DEFAULT_DATABASE)
    prepare_database(url)
    webhook_secret = secrets.token_urlsafe(32)
    os.environ[SECRET_ENV] = webhook_secret  # in-process probe sends; the receiver checks signatures
    config = ServerConfig(workers=args.workers, threads=args.server_threads)
    summary: dict[str, Any] = {
        "command": "bash bench/run.sh " + " ".join(argv),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgresql": database.server_version(url),
            "platform": platform.platform(),
        },
        "database": database.database_name(url),
        "server": config.description,
        "client_threads": args.client_threads,
        "load_average_at_start": os.getloadavg(),
        "engine": engine_state(),
    }
    for old in RESULTS.glob("fanout-*"):  # this run's logs only
        old.unlink()
    arrivals = RESULTS / "fanout-arrivals.jsonl"
    arrivals.write_text("")
    gunicorn_log = RESULTS / "fanout-gunicorn.log"
    gunicorn_log.write_text("")
    with ExitStack() as stack:
        redis_url = stack.enter_context(private_redis(RESULTS))
        os.environ["CELERY_BROKER_URL"] = redis_url  # the bench process publishes (probes), never runs tasks
        os.environ.setdefault("LRS_TARGETS_CACHE_SECONDS", "5")  # as gunicorn (production default)
        setup_django(url)
        key, secret = create_credential()
        env = {**production_environ(url), "CELERY_BROKER_URL": redis_url, SECRET_ENV: webhook_secret}
        hook = stack.enter_context(webhook_receiver(env, arrivals, RESULTS))
        urls = {"redis": redis_url, "up": hook, "down": refusing_url(), "arrivals": str(arrivals)}
        summary["broker"] = redis_url
        summary["targets"] = {"up": hook, "down": urls["down"], "secret": {"env": SECRET_ENV}}
        port = stack.enter_context(gunicorn(url, config, gunicorn_log, extra_env=env))
        target = xapi_target(port, key, secret)
        log(
            f"gunicorn on 127.0.0.1:{port} ({config.description}), broker {redis_url}, receiver {hook}, "
            f"down target {urls['down']}"
        )
        smoke_check(target)
        log("probes (in-process): SQL and tasks per POST, one publish, one delivery")
        summary["probes"] = run_probes(url, key, secret, redis_url, hook, log)
        factory = StatementFactory(Universe.build(), seed=args.seed + 7000, voiding_share=0.0)
        if not args.skip_fanout_ingest:
            log("ingest over HTTP, no worker: fan-out off, 4 targets up, 4 targets down, off again")
            limits = FanoutIngestLimits(threads=args.client_threads, seconds=args.fanout_seconds)
            summary["ingest"] = measure_fanout_ingest(
                target, factory, limits, redis_url, urls, log, url, rounds=args.fanout_rounds
            )
            summary["ingest"]["limits"] = limits.__dict__
        if not args.skip_throughput:
            log("throughput: instant and 200 ms targets, ingest with the drain, backfill (default worker)")
            throughput_plan = ThroughputPlan(
                instant_deliveries=args.instant_deliveries,
                instant_rounds=args.instant_rounds,
                slow_deliveries=args.slow_deliveries,
                client_threads=args.client_threads,
                drain_timeout=args.drain_timeout,
                shares=tuple(float(share) for share in args.shares.split(",") if share.strip()),
            )
            summary["throughput"] = measure_throughput(
                env, target, factory, throughput_plan, redis_url, webhook_secret, RESULTS, log, url
            )
        plan = WorkerPlan(
            deliveries=args.deliveries,
            drain_timeout=args.drain_timeout,
            e2e_rate=args.e2e_rate,
            e2e_seconds=args.e2e_seconds,
            client_threads=args.client_threads,
        )
        summary["worker_plan"] = plan.__dict__
        summary["workers"] = {}
        for spec in worker_specs(args.pools, args.threads_concurrency):
            log(f"worker {spec.label}: drain {plan.deliveries:,} queued deliveries, then end-to-end delay")
            summary["workers"][spec.label] = run_worker_phase(
                spec, env, target, factory, plan, urls, RESULTS, log
            )
    summary["seconds_total"] = round(time.perf_counter() - started, 1)
    summary["load_average_at_end"] = os.getloadavg()
    summary["engine_at_end"] = engine_state()
    summary["engine_changed_during_run"] = (
        summary["engine_at_end"]["sources_sha256"] != summary["engine"]["sources_sha256"]
    )
    path = RESULTS / "fanout.json"
    write_results(summary, path)
    print("\n".join(["", *summary_lines(summary), "", f"written: {path}, logs: {_logs(RESULTS)}"]))
    return 0


def _logs(results: Path) -> str:
    return ", ".join(sorted(p.name for p in results.glob("fanout-*")))
