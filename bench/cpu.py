"""What a bench phase cost per stored statement: CPU by process group, and WAL written.

CPU is read from Linux ``/proc`` before and after a phase: the LRS server (gunicorn), the bench
process, the Celery worker and the fan-out bench's receivers (``target``), which live through the
whole phase, and the whole machine's busy and idle time; ``rest`` is the machine's busy time less
those, i.e. PostgreSQL and anything else running.
(PostgreSQL backends are not summed per process: connections that open or close during a phase,
such as the raw floor's or an expired Django connection's, would be miscounted.) WAL bytes come
from ``pg_current_wal_lsn()``. Divided by the statements the phase stored, they show which side
a ratio moved with, which absolute rates on a machine whose speed drifts cannot. Without
``/proc`` the CPU part is empty.

Each phase starts right after a ``CHECKPOINT`` (``phase_start``), so that every phase starts from
the same state whatever the one before it wrote (the raw floor alone writes several hundred MB
of WAL, and PostgreSQL starts a checkpoint every ``max_wal_size`` of it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

PROC = Path("/proc")
GROUPS = ("server", "bench", "worker", "target")


def _group(cmdline: str) -> str | None:
    if "gunicorn" in cmdline:
        return "server"
    if "bench.cli" in cmdline:
        return "bench"
    if "celery" in cmdline:
        return "worker"
    if "instant_receiver" in cmdline or "fanout_receiver" in cmdline:
        return "target"
    return None


def _process_seconds(tick: int) -> dict[str, float]:
    seconds = dict.fromkeys(GROUPS, 0.0)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        group = _group(cmdline)
        if group is not None:
            fields = stat.rsplit(")", 1)[1].split()
            # utime and stime (fields 14 and 15 of proc(5)): 11 and 12 after the command name.
            seconds[group] += (int(fields[11]) + int(fields[12])) / tick
    return seconds


def _wal(conninfo: str) -> tuple[int, int]:
    """WAL position in bytes, and full-page images written since the statistics were reset."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, wal_fpi FROM pg_stat_wal").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


@dataclass(frozen=True)
class PhaseSnapshot:
    seconds: dict[str, float]
    busy: float
    idle: float
    wal: int
    full_page_images: int

    @classmethod
    def take(cls, conninfo: str) -> PhaseSnapshot:
        wal, full_page_images = _wal(conninfo)
        if not PROC.is_dir():
            return cls({}, 0.0, 0.0, wal, full_page_images)
        tick = os.sysconf("SC_CLK_TCK")
        seconds = _process_seconds(tick)
        totals = [int(value) for value in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = (totals[3] + totals[4]) / tick  # idle + iowait
        return cls(seconds, sum(totals) / tick - idle, idle, wal, full_page_images)

    def per_statement(self, later: PhaseSnapshot, statements: int) -> dict[str, float]:
        """CPU microseconds (by group, ``machine`` busy, ``rest``, ``idle``), ``wal_bytes`` and
        ``full_page_images`` per stored statement between this snapshot and ``later``."""
        if not statements:
            return {}
        split = {
            "wal_bytes": round((later.wal - self.wal) / statements, 1),
            "full_page_images": round((later.full_page_images - self.full_page_images) / statements, 3),
        }
        if self.seconds:
            for group in GROUPS:
                split[group] = round((later.seconds[group] - self.seconds[group]) / statements * 1e6, 1)
            split["machine"] = round((later.busy - self.busy) / statements * 1e6, 1)
            split["rest"] = round(split["machine"] - sum(split[group] for group in GROUPS), 1)
            split["idle"] = round((later.idle - self.idle) / statements * 1e6, 1)
        return split


def phase_start(conninfo: str) -> PhaseSnapshot:
    """Checkpoint (see the module docstring), then snapshot."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    return PhaseSnapshot.take(conninfo)


# The columns of a cost table: figure key -> header.
COST_HEADERS = {
    "server": "server",
    "bench": "bench",
    "worker": "worker",
    "target": "target",
    "rest": "rest",
    "machine": "machine",
    "idle": "idle",
    "wal_bytes": "WAL B",
    "full_page_images": "WAL FPI",
}


def cost_table(rows: list[tuple[str, dict[str, float]]], columns: tuple[str, ...], width: int) -> list[str]:
    """``rows`` of (name, cost per statement) as text lines, ``columns`` from ``COST_HEADERS``."""
    lines = [f"{'':{width}} " + " ".join(f"{COST_HEADERS[column]:>9}" for column in columns)]
    for name, cost in rows:
        cells = [
            f"{cost.get(column, 0):>9.{3 if column == 'full_page_images' else 1}f}" for column in columns
        ]
        lines.append(f"{name:{width}} " + " ".join(cells))
    return lines
