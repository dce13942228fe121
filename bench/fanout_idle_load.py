"""The host's own share of "ingest with the drain flat out": what a load at idle CPU priority
that touches no database costs batch ingest, measured in the same run.

The worker's pool processes run at idle priority (``SCHED_IDLE``, ``config/celery.py``), so the
kernel gives them a CPU only when nothing else wants it. On the bench's 2-core host, where the web
processes, PostgreSQL and the worker share the cores, that still slows ingest: scratch runs on
2026-12-05 put batch-100 ingest beside two such processes of pure Python work at 0.79-0.97 of
its rate alone (the waking web threads and backends preempt them, but find the caches cold and
lose the time of the switch). Whatever the drain does, a drain that runs flat out on these cores
costs at least this much; the rest of its cost is its own (its queries, its WAL, the receiver).

Rounds alternate (``bench.rounds``, as the ingest rounds do): batch ingest
alone, then with ``processes`` such processes running (or the other way round), fan-out off
and no worker running; the ratio is the median of the rounds' ratios.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.rounds import alternating_rounds, mean_over, ratio_summary
from bench.server import die_with_parent

# A worker's kind of work (building and dropping small dicts and lists), at the pool's priority.
_LOAD_SOURCE = (
    "import os\n"
    "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
    "while True:\n"
    "    rows = [{'id': str(i), 'values': [i, i + 1]} for i in range(20000)]\n"
)


def available() -> bool:
    return hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")


@contextmanager
def idle_cpu_load(processes: int) -> Iterator[None]:
    """``processes`` processes at idle CPU priority, running until the block ends."""
    children: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(processes):
            command = [sys.executable, "-c", _LOAD_SOURCE]
            children.append(subprocess.Popen(command, preexec_fn=die_with_parent))
        time.sleep(0.5)  # started and spinning before the ingest begins
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"the idle-priority load exited with {child.returncode}")
        yield
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


def idle_load_rounds(
    ingest: Callable[[], dict[str, Any]], *, rounds: int, processes: int, log: Callable[[str], None]
) -> dict[str, Any] | None:
    """Batch ingest (``ingest()``: one timed load, its figures) alone and beside the idle-priority
    load, alternating; None where the platform has no idle priority."""
    if not available():
        return None

    def measure(label: str) -> dict[str, Any]:
        if label == "alone":
            return ingest()
        with idle_cpu_load(processes):
            return ingest()

    def log_round(index: int, figures: dict[str, Any]) -> None:
        log(
            f"throughput: idle-priority load round {index + 1}: alone "
            f"{figures['alone']['statements_per_s']:,.0f}/s, beside {processes} idle-priority processes "
            f"{figures['idle_load']['statements_per_s']:,.0f}/s: {figures['ratio']:.2f}"
        )

    per_round = alternating_rounds(rounds, "alone", "idle_load", measure, log_round)
    return {
        "processes": processes,
        "rounds": per_round,
        "alone": {"statements_per_s": mean_over(per_round, "alone")},
        "idle_load": {"statements_per_s": mean_over(per_round, "idle_load")},
        **ratio_summary(per_round),
    }
