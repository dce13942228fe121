"""``python -m bench.cli``: the whole bench, start to finish (``bash bench/run.sh`` calls it)."""

from __future__ import annotations

import argparse
import base64
import os
import platform
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import database
from bench.django_env import in_process_environ, setup_django
from bench.fanout_args import add_fanout_arguments
from bench.floor_table import floor_tables_create
from bench.ingest import IngestLimits, ingest_ratios, measure_ingest
from bench.loadgen import Target
from bench.reconcile_args import add_reconcile_arguments
from bench.report import summary_lines, write_summary
from bench.roundtrips import post_roundtrips
from bench.server import HOST, ROOT, ServerConfig, gunicorn
from bench.smoke import smoke_check

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh", description=__doc__)
    parser.add_argument(
        "--statements",
        type=int,
        default=int(os.environ.get("BENCH_STATEMENTS", "1000000")),
        help="statements in the big table for the query timings (env BENCH_STATEMENTS)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="loader processes for the big table (default: one per core)",
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=600.0,
        help="time cap of the statement_store fill (0: none); see --no-replicate",
    )
    parser.add_argument(
        "--no-replicate",
        action="store_true",
        help="when the fill hits its cap, leave the table smaller (no SQL copy)",
    )
    parser.add_argument("--ingest-seconds", type=float, default=15.0, help="time bound of each ingest test")
    parser.add_argument("--client-threads", type=int, default=6, help="load-generator threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--repetitions", type=int, default=100, help="timed GETs per query type")
    parser.add_argument("--skip-ingest", action="store_true", help="only the big table and the queries")
    parser.add_argument("--seed", type=int, default=1)
    add_fanout_arguments(parser)
    add_reconcile_arguments(parser)
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_database(url: str) -> None:
    log(f"recreating database {database.database_name(url)}")
    database.database_recreate(url)
    environ = {**os.environ, **in_process_environ(url)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=environ, check=True
    )
    floor_tables_create(url)


def create_credential() -> tuple[str, str]:
    from lrs.credentials.services import credential_upsert

    key, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    credential_upsert(name="bench", scopes=["all"], key=key, secret=secret)
    return key, secret


def xapi_target(port: int, key: str, secret: str) -> Target:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return Target(HOST, port, {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"})


def main(argv: list[str]) -> int:
    from bench.big_table import FillPlan, fill_big_table, run_queries

    args = parse_args(argv)
    if args.fanout:
        from bench.fanout import run_fanout

        return run_fanout(args, argv)
    if args.reconcile:
        from bench.reconcile import run_reconcile

        return run_reconcile(args, argv)
    started = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    url = database.bench_database_url()
    prepare_database(url)
    setup_django(url)
    key, secret = create_credential()
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
    }
    log_path = RESULTS / "gunicorn.log"
    log_path.write_text("")
    with gunicorn(url, config, log_path) as port:
        target = xapi_target(port, key, secret)
        log(f"gunicorn on {HOST}:{port}: {config.description}")
        smoke_check(target)
        if not args.skip_ingest:
            log("ingest: raw executemany floor, Django floor, single POST, batch-100 POST")
            limits = IngestLimits(threads=args.client_threads, seconds=args.ingest_seconds)
            figures = measure_ingest(target, url, limits, seed=args.seed, log=log)
            summary["ingest"] = {
                "figures": figures,
                "ratios": ingest_ratios(figures),
                "limits": limits.__dict__,
                "roundtrips": post_roundtrips(key, secret),
            }
        plan = FillPlan(
            total=args.statements,
            processes=args.processes,
            max_seconds=args.load_seconds,
            replicate=not args.no_replicate,
        )
        summary["load"] = fill_big_table(url, key, plan, args.seed, log)
        summary["statements_loaded"] = summary["load"]["rows"]["lrs_statement"]
        summary["queries"] = run_queries(target, args.repetitions, args.seed, RESULTS / "explain.txt", log)
    summary["seconds_total"] = round(time.perf_counter() - started, 1)
    summary["load_average_at_end"] = os.getloadavg()
    write_summary(summary, RESULTS / "summary.json")
    print(
        "\n".join(
            [
                "",
                *summary_lines(summary),
                "",
                f"written: {RESULTS / 'summary.json'}, {RESULTS / 'explain.txt'}",
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
