"""A small HTTP load generator: threads, one keep-alive ``http.client`` connection each.

A run is bounded by a request count and by wall time, whichever comes first;
an untimed warm-up runs before it. Only loopback addresses are accepted.
"""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    headers: dict[str, str]

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK:
            raise ValueError(f"the load generator only talks to loopback, not {self.host!r}")

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""

    def rate(self, items_per_request: int = 1) -> float:
        return (self.requests - self.errors) * items_per_request / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(fraction * 1000) - 1]


def request_once(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def run_load(
    target: Target,
    *,
    method: str,
    path: str,
    bodies: Sequence[bytes],
    threads: int,
    max_requests: int,
    max_seconds: float,
    warmup_requests: int = 0,
    ok_status: int = 200,
    on_timed_start: Callable[[], None] | None = None,
) -> LoadResult:
    """POST ``bodies[i]`` for request ``i`` (warm-up requests use the first ones) and time the rest;
    ``on_timed_start`` runs between the two."""
    if warmup_requests:
        _drive(target, method, path, bodies, threads, range(warmup_requests), 30.0, ok_status)
    if on_timed_start is not None:
        on_timed_start()
    indexes = range(warmup_requests, min(len(bodies), warmup_requests + max_requests))
    return _drive(target, method, path, bodies, threads, indexes, max_seconds, ok_status)


def _drive(
    target: Target,
    method: str,
    path: str,
    bodies: Sequence[bytes],
    threads: int,
    indexes: range,
    max_seconds: float,
    ok_status: int,
) -> LoadResult:
    result = LoadResult()
    lock = threading.Lock()
    counter = iter(indexes)
    headers = {**target.headers, "Content-Type": "application/json"}
    started = time.perf_counter()
    deadline = started + max_seconds

    def next_index() -> int | None:
        with lock:
            return next(counter, None)

    def worker() -> None:
        conn = target.connect()
        latencies: list[float] = []
        errors = 0
        try:
            while time.perf_counter() < deadline:
                index = next_index()
                if index is None:
                    break
                begun = time.perf_counter()
                try:
                    status, answer = request_once(conn, method, path, bodies[index], headers)
                except (OSError, http.client.HTTPException) as exc:
                    status, answer = 0, repr(exc).encode()
                    conn.close()
                    conn = target.connect()
                latencies.append(time.perf_counter() - begun)
                if status != ok_status:
                    errors += 1
                    _note_error(result, lock, f"{status} {answer[:300]!r}")
        finally:
            conn.close()
            with lock:
                result.latencies.extend(latencies)
                result.requests += len(latencies)
                result.errors += errors

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def _note_error(result: LoadResult, lock: threading.Lock, text: str) -> None:
    with lock:
        if not result.first_error:
            result.first_error = text


def timed_gets(
    target: Target, paths: Callable[[int, bytes | None], str], count: int
) -> tuple[list[float], list[bytes], str]:
    """``count`` sequential GETs on one keep-alive connection: latencies, bodies, first error.

    ``paths(i, previous_body)`` names the i-th request (the previous answer lets it follow ``more``).
    """
    conn = target.connect()
    latencies: list[float] = []
    bodies: list[bytes] = []
    first_error = ""
    try:
        for index in itertools.islice(itertools.count(), count):
            path = paths(index, bodies[-1] if bodies else None)
            begun = time.perf_counter()
            status, body = request_once(conn, "GET", path, None, target.headers)
            latencies.append(time.perf_counter() - begun)
            bodies.append(body)
            if status != 200 and not first_error:
                first_error = f"{status} {path}: {body[:300]!r}"
    finally:
        conn.close()
    return latencies, bodies, first_error
