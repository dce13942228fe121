"""A target's rate limit and concurrency cap hold across every worker process: send slots are
booked from one schedule in Redis (``adapters.delivery.pacing.per_send``), and the drains of a target share
its concurrency (``pacing.sends_per_drain``)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from adapters.delivery import pacing
from adapters.delivery.replay import backfill
from adapters.models import Delivery, Target
from lrs.statements.store import statement_store
from tests.adapters.helpers import busiest_second, wait_until
from tests.conftest import make_statement
from tests.targets.webhook_server import hang

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_ENV = {"TEST_WEBHOOK_SECRET": "test-webhook-secret"}
REAL_BOOK = pacing._book


def bookings_from_threads(target: Target, threads: int = 4, rounds: int = 5) -> list[float]:
    """The slots booked one at a time from ``threads`` threads at once, on the shared clock."""
    booked: list[float] = []
    lock = threading.Lock()

    def book() -> None:
        for _ in range(rounds):
            start, _now = pacing._book(target, 1)
            with lock:
                booked.append(start)

    workers = [threading.Thread(target=book) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(booked)


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_concurrent_bookings_get_consecutive_slots_never_the_same_ones(shared, request, monkeypatch):
    if shared:
        request.getfixturevalue("broker")  # the cache is the private Redis
    else:
        monkeypatch.setattr(pacing, "_local_next_free", {})
    target = Target.objects.create(name="limited", adapter="webhook", config={}, rate_limit_per_second=20)
    booked = bookings_from_threads(target)
    assert len(booked) == 20
    gap = pacing.spacing(target)  # 1/20 s, stretched by the headroom
    assert gap == pytest.approx(0.05 / pacing.RATE_HEADROOM)
    # Compared on the shared clock the slots were booked on; 0.1 ms for float rounding.
    assert min(later - earlier for earlier, later in itertools.pairwise(booked)) >= gap - 1e-4
    # 20 slots booked at once are the next 20: the last starts 19 slots after the first.
    assert booked[-1] - booked[0] == pytest.approx(19 * gap, abs=1e-4)


class OversleepingClock:
    """The ``time`` module as the pacing module sees it, with sleeps that end late: by each of
    ``oversleeps`` in turn, then by ``always``."""

    def __init__(self, oversleeps: list[float], always: float = 0.0) -> None:
        self.oversleeps = iter(oversleeps)
        self.always = always
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        time.sleep(seconds + next(self.oversleeps, self.always))

    def __getattr__(self, name: str):
        return getattr(time, name)


def counting_bookings(monkeypatch, delay: float = 0.0, crowd: int = 0) -> list[float]:
    """Bookings (in Redis with the ``broker`` fixture, else in-process, from an empty schedule),
    each taking ``delay`` and each after other drains took the next ``crowd`` slots; the slots
    booked, on the clock they were booked on."""
    monkeypatch.setattr(pacing, "_local_next_free", {})
    slots: list[float] = []
    lock = threading.Lock()

    def booking(target: Target, count: int) -> tuple[float, float]:
        time.sleep(delay)
        if crowd:
            REAL_BOOK(target, crowd)
        start, now = REAL_BOOK(target, count)
        with lock:
            slots.append(start)
        return start, now

    monkeypatch.setattr(pacing, "_book", booking)
    return slots


def test_sends_booked_when_ready_are_spaced_whatever_drain_sends_them_and_no_slot_is_wasted(
    broker, monkeypatch
):
    """Two drains, one of them late (held at its concurrency gate past the slots it would have
    booked up front): each send books its slot when it is ready, so together they never come
    closer than the spacing, and nothing is booked that no send uses."""
    target = Target.objects.create(name="limited", adapter="webhook", config={}, rate_limit_per_second=50)
    gap = pacing.spacing(target)
    slots = counting_bookings(monkeypatch)  # on the shared (Redis) clock, where bookings compare exactly
    # Every send keeps its slot here, however late its thread wakes (the next test gives a late
    # one's slot up): so each booking is a send's.
    monkeypatch.setattr(pacing, "LATE_TOLERANCE_SECONDS", 60.0)

    def drain(late: float) -> None:
        schedule = pacing.per_send(target)
        time.sleep(late)
        for _ in range(10):
            schedule.wait_for_turn()

    workers = [threading.Thread(target=drain, args=(late,)) for late in (0.0, 0.1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    slots.sort()
    assert len(slots) == 20
    assert min(later - earlier for earlier, later in itertools.pairwise(slots)) >= gap - 1e-4
    # 20 sends in about 20 consecutive slots from the first: the late drain's sends took the next
    # free ones, none was booked and left unused (a slot is booked when the previous send wakes:
    # its wake-up latency, not a wasted slot, is the slack allowed).
    assert 19 * gap - 1e-4 <= slots[-1] - slots[0] <= 19 * gap + 0.05
    assert pacing.per_send(Target(name="c", adapter="webhook")) == pacing.UNPACED


def test_a_send_that_wakes_late_gives_its_slot_up_so_no_second_holds_more_than_the_limit(monkeypatch):
    """A send booked into a slot but scheduled 100 ms after it (its thread waited on the CPU or the
    interpreter lock) would start right before the next send's slot, on time: two starts closer
    than the spacing, and five in one second at 4/s. It books the next free slot instead."""
    slots = counting_bookings(monkeypatch)
    monkeypatch.setattr(pacing, "time", OversleepingClock([0.1]))  # the first sleep ends late
    target = Target(id=9001, name="limited", adapter="webhook", rate_limit_per_second=4)
    pacing._book(target, 1)  # a send of another drain took the slot that is free now
    starts = [time.monotonic()]
    schedule = pacing.per_send(target)
    for _ in range(5):
        schedule.wait_for_turn()
        starts.append(time.monotonic())
    assert busiest_second(starts) <= 4
    # The other drain's, one per send, and the late one's again; a loaded host may wake a real
    # sleep late once more, which books once more (8 == 7 seen at load 9): at least, not exactly.
    assert len(slots) >= 1 + 5 + 1


def test_a_slow_booking_is_not_lateness_and_a_send_late_again_and_again_never_starts_late(monkeypatch):
    """The booking's round trip (here 30 ms, twice the tolerance) does not count against the send:
    one booking, no retry. A send whose thread wakes late three times running books three times
    more and starts on time at the fourth: nothing starts late."""
    slots = counting_bookings(monkeypatch, delay=0.03)
    target = Target(id=9002, name="limited", adapter="webhook", rate_limit_per_second=50)
    pacing._book(target, 1)
    pacing.per_send(target).wait_for_turn()
    assert len(slots) == 2

    # Other drains keep the next 100 ms booked: every slot is waited for.
    slots = counting_bookings(monkeypatch, crowd=5)
    clock = OversleepingClock([0.05, 0.05, 0.05])
    monkeypatch.setattr(pacing, "time", clock)
    pacing.per_send(target).wait_for_turn()
    assert len(slots) == clock.sleeps == 4


def test_a_send_starved_of_the_cpu_goes_after_ten_late_wake_ups_and_says_so(monkeypatch, caplog):
    """A drain whose threads never wake in time (a host short of CPU) must not stall for good
    holding its claimed batch: after ``MAX_LATE_WAKEUPS`` tries the send goes, with a warning."""
    slots = counting_bookings(monkeypatch, crowd=2)
    target = Target(id=9003, name="limited", adapter="webhook", rate_limit_per_second=100)
    monkeypatch.setattr(pacing, "time", OversleepingClock([], always=0.03))
    pacing.per_send(target).wait_for_turn()
    assert len(slots) == pacing.MAX_LATE_WAKEUPS
    assert "sending it now" in caplog.text


def test_a_claim_is_about_one_horizon_of_sends_and_unlimited_targets_are_not_paced():
    limited = Target(name="a", adapter="webhook", rate_limit_per_second=2)
    assert pacing.batch_size(limited, 200) == 2
    assert pacing.batch_size(Target(name="b", adapter="webhook", rate_limit_per_second=1000), 200) == 200
    unlimited = Target(name="c", adapter="webhook")
    assert pacing.per_send(unlimited) == pacing.UNPACED and pacing.booked_ahead(unlimited) == 0


@pytest.mark.parametrize(("concurrency", "slots", "each"), [(32, 2, 16), (5, 2, 2), (1, 1, 1)])
def test_the_drains_of_a_target_share_its_concurrency(concurrency, slots, each, settings):
    settings.LRS_DRAIN_PARALLELISM = 2
    target = Target(name="t", adapter="webhook", concurrency=concurrency)
    assert (pacing.drain_slots(target), pacing.sends_per_drain(target)) == (slots, each)
    assert slots * each <= concurrency


def backlog(target_url: str, count: int, **fields) -> Target:
    statement_store(statements=[make_statement() for _ in range(count)], credential=None)
    target = Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": target_url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
        **fields,
    )
    backfill(target=target)
    return target


def test_two_worker_processes_keep_the_concurrency_cap_and_use_all_of_it(
    broker, webhook_target, celery_worker_process
):
    webhook_target.set_default(hang(0.3))
    backlog(webhook_target.url, 40, concurrency=4)
    # Batches of 8: a full batch recruits the second drain (a backlog of one batch keeps one).
    worker_env = {**SECRET_ENV, "LRS_DRAIN_BATCH": "8"}
    celery_worker_process(broker, extra_env=worker_env, extra_args=["--concurrency", "2"])
    wait_until(lambda: len(webhook_target.distinct_keys()) == 40, timeout=60, message="40 delivered")
    assert webhook_target.max_in_flight == 4
    # The receiver has them before the worker records its batch's outcomes.
    delivered = Delivery.objects.filter(status=Delivery.DELIVERED)
    wait_until(lambda: delivered.count() == 40, timeout=10, message="the outcomes recorded")


def test_two_worker_processes_never_send_faster_than_the_rate_limit(
    broker, webhook_target, celery_worker_process
):
    backlog(webhook_target.url, 60, rate_limit_per_second=20)
    started = time.time()
    celery_worker_process(broker, extra_env=SECRET_ENV, extra_args=["--concurrency", "2"])
    wait_until(lambda: len(webhook_target.distinct_keys()) == 60, timeout=60, message="60 delivered")
    arrivals = sorted(request.arrived_at for request in webhook_target.accepted())
    busiest = busiest_second(arrivals)
    print(f"60 deliveries at 20/s: {arrivals[-1] - arrivals[0]:.2f} s, busiest second {busiest}")
    assert busiest <= 20  # 19.4 slots a second (3 % headroom): a start's lateness stays within the limit
    assert arrivals[-1] - arrivals[0] >= 59 / 20 - 0.1
    assert arrivals[0] >= started
