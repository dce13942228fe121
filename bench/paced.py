"""An open-loop load: request ``i`` is due at ``start + i / rate``, whatever earlier ones took.

A few threads (one keep-alive connection each) take the next due request, wait for its
time and send it, so a slow answer delays nothing scheduled after it unless every thread
is busy (``max_lateness_ms`` shows it). Loopback only (``bench.loadgen.Target``).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.loadgen import Target, percentile, request_once


@dataclass
class PacedResult:
    statuses: dict[int, int] = field(default_factory=dict)  # request index -> HTTP status (0: no answer)
    latencies: list[float] = field(default_factory=list)
    max_lateness: float = 0.0
    seconds: float = 0.0
    first_error: str = ""

    @property
    def ok_indexes(self) -> list[int]:
        return sorted(index for index, status in self.statuses.items() if status == 200)

    def figures(self) -> dict[str, float | int | str]:
        sent = len(self.statuses)
        return {
            "sent": sent,
            "ok": len(self.ok_indexes),
            "seconds": round(self.seconds, 2),
            "achieved_per_s": round(sent / self.seconds, 2) if self.seconds else 0.0,
            "post_p50_ms": round(percentile(self.latencies, 0.5) * 1000, 2),
            "post_p95_ms": round(percentile(self.latencies, 0.95) * 1000, 2),
            "max_lateness_ms": round(self.max_lateness * 1000, 1),
            "first_error": self.first_error,
        }


def paced_posts(
    target: Target, path: str, bodies: Sequence[bytes], rate: float, threads: int = 4
) -> PacedResult:
    """POST ``bodies`` at ``rate`` per second; returns when all were sent (or failed)."""
    result = PacedResult()
    lock = threading.Lock()
    counter = iter(range(len(bodies)))
    headers = {**target.headers, "Content-Type": "application/json"}
    start = time.perf_counter() + 0.2

    def worker() -> None:
        conn = target.connect()
        try:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                due = start + index / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                begun = time.perf_counter()
                try:
                    status, answer = request_once(conn, "POST", path, bodies[index], headers)
                except (OSError, http.client.HTTPException) as exc:
                    status, answer = 0, repr(exc).encode()
                    conn.close()
                    conn = target.connect()
                ended = time.perf_counter()
                with lock:
                    result.statuses[index] = status
                    result.latencies.append(ended - begun)
                    result.max_lateness = max(result.max_lateness, begun - due)
                    if status != 200 and not result.first_error:
                        result.first_error = f"{status} {answer[:300]!r}"
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    result.seconds = time.perf_counter() - start
    return result
