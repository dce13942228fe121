"""The drain's in-flight allowance (``adapters.delivery.pacing.Lanes``): as many sends at once as the
target's latency needs, never more than the drain's share of the target's concurrency cap."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.delivery import pacing as lanes_module
from adapters.delivery.pacing import MIN_LANES, Lanes


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    monkeypatch.setattr(lanes_module, "_last_allowance", {})


def _busy(seconds: float) -> None:
    """A send that answers at once and costs CPU: the sender's own work is the whole round trip."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _run(lanes: Lanes, sends: list, pool: ThreadPoolExecutor) -> None:
    futures = []
    for send in sends:
        lanes.enter()
        futures.append(pool.submit(lanes.timed, send))
    for future in futures:
        future.result()


def test_a_target_that_answers_at_once_gets_few_sends_in_flight():
    lanes = Lanes(target_id=1, cap=32)
    with ThreadPoolExecutor(32) as pool:
        _run(lanes, [lambda: _busy(0.002)] * 40, pool)
    assert lanes.allowed <= MIN_LANES + 1


def test_a_slow_target_gets_the_whole_cap_and_never_more():
    lanes = Lanes(target_id=1, cap=8)
    with ThreadPoolExecutor(32) as pool:
        _run(lanes, [lambda: time.sleep(0.05)] * 40, pool)
    assert lanes.allowed == 8
    assert lanes.most_in_flight == 8


def test_the_next_drain_starts_where_the_last_ended_and_a_slowdown_raises_it_within_the_batch():
    with ThreadPoolExecutor(32) as pool:
        _run(Lanes(target_id=7, cap=16), [lambda: _busy(0.002)] * 30, pool)
        following = Lanes(target_id=7, cap=16)
        assert following.allowed <= MIN_LANES + 1
        started = time.monotonic()
        _run(following, [lambda: time.sleep(0.1)] * 64, pool)
    assert following.allowed == 16
    # 64 sends of 100 ms: at the starting allowance they would take >= 2 s; raised early, well under.
    assert time.monotonic() - started < 1.6
    assert Lanes(target_id=8, cap=16).allowed == 16  # another target: its own start, the cap


def test_a_send_that_fails_frees_its_place():
    lanes = Lanes(target_id=1, cap=1)

    def failing() -> None:
        raise ConnectionError("refused")

    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            lanes.enter()
            with pytest.raises(ConnectionError):
                pool.submit(lanes.timed, failing).result()
    assert lanes.in_flight == 0


def test_concurrent_sends_never_exceed_the_allowance():
    lanes = Lanes(target_id=1, cap=4)
    seen = []
    guard = threading.Lock()
    current = [0]

    def send() -> None:
        with guard:
            current[0] += 1
            seen.append(current[0])
        time.sleep(0.01)
        with guard:
            current[0] -= 1

    with ThreadPoolExecutor(16) as pool:
        _run(lanes, [send] * 60, pool)
    assert max(seen) <= 4
