"""The drain's lanes (``adapters.delivery.pacing.lanes.Lanes``): as many sends at once as the target's
latency needs, never more than the drain's share of the target's concurrency cap, every send run
exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.delivery.pacing import lanes as lanes_module
from adapters.delivery.pacing.lanes import MIN_LANES, Lanes


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    monkeypatch.setattr(lanes_module, "_last_allowance", {})


@pytest.fixture
def pool():
    with ThreadPoolExecutor(32) as executor:
        yield executor


def _busy(seconds: float) -> None:
    """A send that answers at once and costs CPU: the sender's own work is the whole round trip."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Recorder:
    """Runs ``work`` for each send through ``lanes.timed``; records which ran and how many at once."""

    def __init__(self, lanes: Lanes, work: Callable[[], None]) -> None:
        self.lanes, self.work = lanes, work
        self.ran: list[int] = []
        self.most = 0
        self._now = 0
        self._lock = threading.Lock()

    def __call__(self, index: int) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
            self.ran.append(index)
        try:
            self.lanes.timed(self.work)
        finally:
            with self._lock:
                self._now -= 1


def test_every_send_runs_once_in_order_of_taking(pool):
    lanes = Lanes(target_id=1, cap=8)
    recorder = Recorder(lanes, lambda: time.sleep(0.005))
    lanes.run(50, recorder, pool)
    assert sorted(recorder.ran) == list(range(50))
    assert lanes.running == 0 and lanes.in_flight == 0


def test_a_target_that_answers_at_once_gets_few_sends_in_flight(pool):
    lanes = Lanes(target_id=1, cap=32)
    lanes.run(60, Recorder(lanes, lambda: _busy(0.002)), pool)
    assert lanes.allowed <= MIN_LANES + 1


def test_a_slow_target_gets_the_whole_cap_and_never_more(pool):
    lanes = Lanes(target_id=1, cap=8)
    recorder = Recorder(lanes, lambda: time.sleep(0.05))
    lanes.run(40, recorder, pool)
    assert lanes.allowed == 8
    assert recorder.most == 8 and lanes.most_in_flight == 8


def test_the_next_drain_starts_where_the_last_ended_and_a_slow_target_raises_it_early(pool):
    first = Lanes(target_id=7, cap=16)
    first.run(30, Recorder(first, lambda: _busy(0.002)), pool)
    following = Lanes(target_id=7, cap=16)
    assert following.allowed <= MIN_LANES + 1
    started = time.monotonic()
    following.run(64, Recorder(following, lambda: time.sleep(0.1)), pool)
    assert following.allowed == 16
    # 64 sends of 100 ms: at the starting allowance they would take >= 2 s; raised early, well under.
    assert time.monotonic() - started < 1.6
    assert Lanes(target_id=8, cap=16).allowed == 16  # another target: its own start, the cap


def test_a_send_that_raises_stops_the_lanes_and_is_raised_to_the_caller(pool):
    lanes = Lanes(target_id=1, cap=4)
    ran = []

    def send(index: int) -> None:
        ran.append(index)
        if index == 3:
            raise KeyboardInterrupt
        time.sleep(0.01)

    with pytest.raises(KeyboardInterrupt):
        lanes.run(100, send, pool)
    assert len(ran) < 100 and lanes.running == 0


def test_each_lane_runs_its_end_hook_on_its_own_thread(pool):
    lanes = Lanes(target_id=1, cap=4)
    ended = []
    lanes.run(
        20,
        Recorder(lanes, lambda: time.sleep(0.01)),
        pool,
        after_lane=lambda: ended.append(threading.get_ident()),
    )
    assert 1 <= len(ended) <= 4
    assert threading.get_ident() not in ended
