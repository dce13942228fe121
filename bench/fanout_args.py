"""Options of the fan-out bench (``bash bench/run.sh --fanout``), added to the bench's parser."""

from __future__ import annotations

import argparse


def add_fanout_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fan-out bench (--fanout)")
    group.add_argument(
        "--fanout",
        action="store_true",
        help="run the fan-out bench instead (own database lrs_bench_fanout, bench/results/fanout.json)",
    )
    group.add_argument(
        "--fanout-rounds", type=int, default=3, help="rounds of off / 4 up / 4 down ingest (ratios per round)"
    )
    group.add_argument(
        "--fanout-seconds", type=float, default=6.0, help="time bound of each ingest run (single, batch)"
    )
    group.add_argument("--deliveries", type=int, default=2000, help="queued deliveries a worker drains")
    group.add_argument(
        "--pools",
        default="default",
        help="worker kinds for the drain-then-end-to-end phase, comma-separated: default (what "
        "`celery -A config worker` starts: prefork, one process per core), prefork (concurrency 1), "
        "threads, and the what-if "
        "prefork-dbreuse (prefork 1 with CELERY_DB_REUSE_MAX set: keeps its database connection)",
    )
    group.add_argument("--threads-concurrency", type=int, default=4, help="concurrency of the threads pool")
    group.add_argument("--e2e-rate", type=float, default=20.0, help="statements/s of the end-to-end load")
    group.add_argument(
        "--e2e-seconds", type=float, default=30.0, help="duration of the end-to-end load (0: skip)"
    )
    group.add_argument("--drain-timeout", type=float, default=300.0, help="give up draining after this long")
    group.add_argument("--skip-fanout-ingest", action="store_true", help="only the worker measurements")
    group.add_argument(
        "--instant-deliveries",
        type=int,
        default=20_000,
        help="deliveries the default worker drains (throughput), in each instant round",
    )
    group.add_argument(
        "--instant-rounds",
        type=int,
        default=3,
        help="rounds of the instant drain against its floor, taken seconds apart (the median ratio)",
    )
    group.add_argument(
        "--slow-deliveries", type=int, default=4_000, help="deliveries to the 200 ms target (throughput)"
    )
    group.add_argument(
        "--shares",
        default="",
        help="comma-separated LRS_FANOUT_SHARE_UNDER_INGEST values between the default and 1: the"
        " ingest rounds again beside a worker at each (how fast a drain may go for ingest to keep a ratio)",
    )
    group.add_argument("--skip-throughput", action="store_true", help="no throughput measurements")
