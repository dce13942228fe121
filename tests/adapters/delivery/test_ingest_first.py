"""Ingest first (adapters/delivery/pacing/ingest_first.py): while the web processes are handing
statements to the fan-out and the CPU is contended, a worker process sleeps after each unit of
work so that it works only its share of the time; a burst yields for a bounded time; and the mark
travels from a real gunicorn to a real Celery worker through the shared Redis."""

from __future__ import annotations

import time

import pytest
import requests
import responses
from django.core.cache import cache

from adapters.delivery import outbox
from adapters.delivery.pacing import ingest_first
from tests.adapters.helpers import metric_samples, restartable_port, wait_until, webhook_targets_file
from tests.conftest import HOOK, make_statement

PRESSURE = (
    "some avg10={avg10:.2f} avg60=26.59 avg300=39.06 total={total}\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
)


class FakePressure:
    """``/proc/pressure/cpu`` as a test sets it: the kernel's 10 s average and the stall total."""

    def __init__(self) -> None:
        self.avg10, self.total = 80.0, 1_000_000
        self.missing = False

    def read(self) -> tuple[float, int] | None:
        if self.missing:
            return None
        return ingest_first.parse_pressure(PRESSURE.format(avg10=self.avg10, total=self.total))


@pytest.fixture
def psi(monkeypatch, settings) -> FakePressure:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.LRS_FANOUT_SHARE_UNDER_INGEST = 0.25
    settings.LRS_FANOUT_YIELD_CPU_PRESSURE = 25
    settings.LRS_FANOUT_YIELD_MAX_SECONDS = 60
    fake = FakePressure()
    monkeypatch.setattr(ingest_first, "_read_pressure", fake.read)
    ingest_first.forget()
    cache.delete(ingest_first.INGEST_KEY)
    yield fake
    ingest_first.forget()


def test_the_pause_keeps_work_to_its_share_of_the_time_and_is_bounded():
    assert ingest_first.pause_seconds(0.1, 0.25) == pytest.approx(0.3)  # 0.1 s of 0.4 s
    assert ingest_first.pause_seconds(0.1, 0.5) == pytest.approx(0.1)
    assert ingest_first.pause_seconds(0.1, 1.0) == 0.0
    assert ingest_first.pause_seconds(0.0, 0.25) == 0.0
    assert ingest_first.pause_seconds(60.0, 0.25) == ingest_first.MAX_PAUSE_SECONDS


def test_the_kernels_pressure_line_is_read_and_a_malformed_one_is_not():
    assert ingest_first.parse_pressure(PRESSURE.format(avg10=12.5, total=42)) == (12.5, 42)
    assert ingest_first.parse_pressure("some avg10=x total=1\n") is None
    assert ingest_first.parse_pressure("full avg10=1.00 total=3\n") is None
    assert ingest_first.parse_pressure("") is None


def test_without_ingest_the_fanout_never_yields_however_busy_the_cpu(psi):
    psi.avg10 = 100.0
    assert ingest_first.pause_after(0.1, now=100.0) == 0.0


def test_while_ingest_is_active_and_the_cpu_contended_the_fanout_yields(psi):
    ingest_first.mark_ingest(now=100.0)
    assert ingest_first.pause_after(0.1, now=100.0) == pytest.approx(0.3)


def test_a_cpu_with_room_to_spare_does_not_slow_the_fanout(psi):
    ingest_first.mark_ingest(now=100.0)
    psi.avg10 = 3.0
    assert ingest_first.pause_after(0.1, now=100.0) == 0.0


def test_pressure_is_measured_over_the_last_window_not_the_kernels_ten_second_average(psi):
    ingest_first.mark_ingest(now=100.0)
    psi.avg10 = 3.0  # the slow average still low at the start of a burst
    assert ingest_first.pause_after(0.1, now=100.0) == 0.0
    psi.total += 400_000  # 0.4 s stalled in the last second: 40 %
    assert ingest_first.cpu_pressure(101.0) == pytest.approx(40.0)
    assert ingest_first.pause_after(0.1, now=101.0) == pytest.approx(0.3)
    psi.total += 50_000  # 5 % over the next second: room to spare again
    assert ingest_first.pause_after(0.1, now=102.0) == 0.0


def test_after_a_quiet_spell_only_the_first_unit_of_a_burst_goes_unpaused(psi):
    ingest_first.mark_ingest(now=100.0)
    assert ingest_first.pause_after(0.1, now=100.0) > 0  # the kernel's average: 80 %
    psi.total += 1_000_000  # a minute later, one second of it contended
    cache.delete(ingest_first.INGEST_KEY)  # the mark of the first burst expired meanwhile
    ingest_first.mark_ingest(now=160.0)
    assert ingest_first.cpu_pressure(160.0) == pytest.approx(1_000_000 / 1e4 / 60)
    psi.total += 400_000  # the next half second: 80 % contended
    assert ingest_first.pause_after(0.1, now=160.5) == pytest.approx(0.3)


def test_where_the_kernel_gives_no_pressure_the_cpu_is_taken_as_contended(psi):
    psi.missing = True
    ingest_first.mark_ingest(now=100.0)
    assert ingest_first.pause_after(0.1, now=100.0) == pytest.approx(0.3)


def test_a_share_of_one_turns_yielding_off(psi, settings):
    settings.LRS_FANOUT_SHARE_UNDER_INGEST = 1.0
    ingest_first.mark_ingest(now=100.0)
    assert ingest_first.pause_after(0.1, now=100.0) == 0.0


def test_the_mark_keeps_the_time_its_burst_began_and_lasts_two_dispatch_intervals(psi, settings):
    ingest_first.mark_ingest(now=100.0)
    ingest_first.mark_ingest(now=130.0)
    assert cache.get(ingest_first.INGEST_KEY) == 100.0
    assert ingest_first.active_seconds() == 2
    settings.LRS_DISPATCH_MAX_INTERVAL_MS = 4000  # the interval under load
    assert ingest_first.active_seconds() == 8
    settings.LRS_DISPATCH_MIN_INTERVAL_MS = 5000
    assert ingest_first.active_seconds() == 10


def test_a_busy_web_process_writes_the_mark_once_per_quarter_of_its_life(psi):
    """Often enough that it never lapses during a burst, seldom enough to cost little."""
    ingest_first.mark_ingest(now=100.0)
    cache.delete(ingest_first.INGEST_KEY)  # so that a write shows
    for now in (100.1, 100.25, 100.45):
        ingest_first.mark_ingest(now=now)
        assert cache.get(ingest_first.INGEST_KEY) is None
    ingest_first.mark_ingest(now=100.5)
    assert cache.get(ingest_first.INGEST_KEY) == 100.5
    assert ingest_first.active_seconds() / 4 == 0.5


@pytest.mark.parametrize("unit_seconds", [0.05, 1.0, 3.0])
def test_a_burst_yields_for_at_most_the_configured_time_whatever_the_length_of_a_unit(
    psi, settings, unit_seconds
):
    settings.LRS_FANOUT_YIELD_MAX_SECONDS = 60
    psi.missing = True  # contended throughout
    clock, yielded_until = 1000.0, None
    while clock < 1300.0:  # five minutes of ingest that never stops
        ingest_first.mark_ingest(now=clock)
        clock += unit_seconds
        pause = ingest_first.pause_after(unit_seconds, now=clock)
        if pause:
            yielded_until = clock
        clock += pause
    assert yielded_until is not None and 1030.0 < yielded_until < 1060.0 + unit_seconds


def test_the_next_burst_yields_again(psi, settings):
    settings.LRS_FANOUT_YIELD_MAX_SECONDS = 10
    ingest_first.mark_ingest(now=100.0)
    assert ingest_first.pause_after(0.1, now=111.0) == 0.0  # the burst is old
    cache.delete(ingest_first.INGEST_KEY)  # no web process published for two seconds
    ingest_first.mark_ingest(now=120.0)
    assert ingest_first.pause_after(0.1, now=121.0) > 0


def test_a_cache_outage_neither_fails_the_dispatch_nor_makes_the_fanout_yield(psi, monkeypatch):
    class DownCache:
        def set(self, *args, **kwargs):
            raise ConnectionError("cache down")

        get = set

    monkeypatch.setattr(ingest_first, "cache", DownCache())
    ingest_first.mark_ingest()  # no exception
    assert ingest_first.pause_after(0.1, now=100.0) == 0.0


def test_publishing_a_dispatch_marks_ingest_active_before_the_message_leaves(psi, monkeypatch):
    marked_when_sent = []

    class Task:
        def apply_async(self, args, retry):
            marked_when_sent.append((args, cache.get(ingest_first.INGEST_KEY) is not None))

    monkeypatch.setattr(outbox.queue, "task", lambda name: Task())
    outbox.publish_dispatch([7])
    assert marked_when_sent == [(([7],), True)]


class YieldLog:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, seconds: float, work: str) -> float:
        self.calls.append((seconds, work))
        return 0.0


def test_only_the_workers_dispatch_task_yields_never_the_admin_nor_the_sweep(monkeypatch):
    from adapters.delivery import tasks

    log = YieldLog()
    monkeypatch.setattr(ingest_first, "yield_after", log)
    monkeypatch.setattr(outbox, "outbox_expand", lambda ids: [])
    monkeypatch.setattr(outbox.queue, "drain_now", lambda ids: None)
    outbox.expand_and_queue([1, 2])  # the admin's action, the sweep
    assert log.calls == []
    tasks.dispatch_batch.run([1, 2])
    assert [work for _, work in log.calls] == ["expansion"]


@pytest.mark.django_db
@responses.activate
def test_a_drain_yields_after_a_batch_for_its_time_less_its_sends_and_not_when_idle(
    target, monkeypatch, django_capture_on_commit_callbacks
):
    from adapters.delivery import drain
    from lrs.statements.store import statement_store

    def slow_answer(request):
        time.sleep(0.3)
        return (200, {}, "")

    responses.add_callback(responses.POST, HOOK, callback=slow_answer)
    log = YieldLog()
    monkeypatch.setattr(drain.ingest_first, "yield_after", log)
    with django_capture_on_commit_callbacks(execute=True):
        statement_store(statements=[make_statement()], credential=None)
    assert len(responses.calls) == 1
    [(seconds, work)] = log.calls
    assert work == "drain" and 0 < seconds < 0.3  # the 0.3 s the target took is not counted
    drain.drain(target.id)  # nothing due: no batch, no yield
    assert len(log.calls) == 1


def test_the_sleep_is_taken_and_counted(psi, monkeypatch):
    slept = []
    monkeypatch.setattr(ingest_first.time, "sleep", slept.append)
    before = _yield_total("drain")
    ingest_first.mark_ingest()
    assert ingest_first.yield_after(0.2, "drain") == pytest.approx(0.6)
    assert slept == [pytest.approx(0.6)]
    assert _yield_total("drain") - before == pytest.approx(0.6)


def _yield_total(work: str) -> float:
    from adapters.ops.instruments import FANOUT_YIELD

    return FANOUT_YIELD.labels(work)._value.get()


# -- the real thing: gunicorn marks, a Celery worker yields ---------------------------------------

SECRET = "test-webhook-secret"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("share", ["0.2", "1"])
def test_a_real_worker_yields_while_a_real_web_process_ingests_unless_turned_off(
    share, private_stack, private_redis, webhook_target, celery_worker_process, tmp_path
):
    targets = webhook_targets_file(tmp_path, webhook_target.url)
    stack = private_stack(private_redis.url, LRS_TARGETS_FILE=str(targets), TEST_WEBHOOK_SECRET=SECRET)
    # Below the ephemeral range: the worker binds it seconds later, and a port free_port picks may
    # meanwhile be any outgoing connection's, or another test's (a page not the worker's was read).
    port = restartable_port()
    worker_env = {
        key: stack.env[key] for key in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "LRS_TARGETS_FILE")
    }
    celery_worker_process(
        private_redis.url,
        extra_env={
            **worker_env,
            "TEST_WEBHOOK_SECRET": SECRET,
            "LRS_WORKER_METRICS_PORT": str(port),
            "LRS_METRICS_PUBLIC": "true",
            "LRS_FANOUT_SHARE_UNDER_INGEST": share,
            # Any pressure counts as contended: the test must not depend on how busy the machine is.
            "LRS_FANOUT_YIELD_CPU_PRESSURE": "0",
        },
        extra_args=["--concurrency", "2"],
    )

    def yielded() -> dict[str, float]:
        page = metric_samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        return {
            work: page.get(("lrs_fanout_yield_seconds_total", (("work", work),)), 0.0)
            for work in ("expansion", "drain")
        }

    # Ten batches, and more while the worker has not yet yielded in both loops (share 0.2): on a
    # loaded machine the worker may first reach a drain batch after a short burst has ended.
    posted, deadline = 0, time.monotonic() + 60
    while posted < 10 or (share != "1" and 0.0 in yielded().values() and time.monotonic() < deadline):
        assert stack.post_statements([make_statement() for _ in range(5)]).status_code == 200
        posted += 1
    expected = 5 * posted
    wait_until(
        lambda: len(webhook_target.distinct_keys()) == expected, timeout=90, message=f"{expected} deliveries"
    )
    if share == "1":
        assert yielded() == {"expansion": 0.0, "drain": 0.0}
    else:
        assert yielded()["expansion"] > 0 and yielded()["drain"] > 0, yielded()
    # Yielding delays effects, never loses or doubles one.
    time.sleep(1.0)
    assert len(webhook_target.accepted()) == expected
