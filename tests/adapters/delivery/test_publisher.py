"""The publisher thread: dispatch messages leave after the response, gathered under load."""

from __future__ import annotations

import itertools
import threading

import pytest

from adapters.delivery.queue import Publisher


class RecordingBroker:
    """A publish function that can be held, to see what gathers while a publish is under way."""

    def __init__(self) -> None:
        self.messages: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, statement_pks: list[int]) -> None:
        self.entered.set()
        self.release.wait(timeout=5)
        self.messages.append(list(statement_pks))


def test_a_submitted_batch_is_published_in_one_message():
    broker = RecordingBroker()
    publisher = Publisher(broker)
    publisher.submit([1, 2, 3])
    assert publisher.flush(timeout=5)
    assert broker.messages == [[1, 2, 3]]


def test_batches_committed_during_a_publish_leave_together_in_the_next_message():
    broker = RecordingBroker()
    broker.release.clear()
    publisher = Publisher(broker)
    publisher.submit([1])
    assert broker.entered.wait(timeout=5)
    publisher.submit([2])
    publisher.submit([3, 4])
    broker.release.set()
    assert publisher.flush(timeout=5)
    assert broker.messages == [[1], [2, 3, 4]]


def test_flush_waits_for_the_publish_under_way():
    broker = RecordingBroker()
    broker.release.clear()
    publisher = Publisher(broker)
    publisher.submit([7])
    assert broker.entered.wait(timeout=5)
    assert not publisher.flush(timeout=0.2)
    broker.release.set()
    assert publisher.flush(timeout=5)
    assert broker.messages == [[7]]


def test_a_failing_publish_is_logged_and_the_thread_goes_on(caplog):
    calls: list[list[int]] = []

    def publish(statement_pks: list[int]) -> None:
        calls.append(statement_pks)
        if statement_pks == [1]:
            raise RuntimeError("boom")

    publisher = Publisher(publish)
    publisher.submit([1])
    assert publisher.flush(timeout=5)
    publisher.submit([2])
    assert publisher.flush(timeout=5)
    assert calls == [[1], [2]]
    assert "publishing the dispatch of 1 outbox batches failed" in caplog.text


def test_a_forked_process_starts_its_own_thread(monkeypatch):
    # gunicorn forks its workers: a thread started in the parent does not exist in the child.
    broker = RecordingBroker()
    publisher = Publisher(broker)
    publisher.submit([1])
    assert publisher.flush(timeout=5)
    first = publisher._thread
    monkeypatch.setattr("adapters.delivery.queue.os.getpid", lambda: -1)
    publisher.submit([2])
    assert publisher.flush(timeout=5)
    assert publisher._thread is not first
    assert broker.messages == [[1], [2]]


@pytest.mark.parametrize("count", [1, 4500])
def test_a_message_holds_at_most_a_bounded_number_of_keys(count):
    from adapters.delivery.queue import MAX_KEYS_PER_MESSAGE

    broker = RecordingBroker()
    broker.release.clear()
    publisher = Publisher(broker)
    publisher.submit([0])
    assert broker.entered.wait(timeout=5)
    publisher.submit(list(range(1, count + 1)))
    broker.release.set()
    assert publisher.flush(timeout=5)
    assert all(len(message) <= MAX_KEYS_PER_MESSAGE for message in broker.messages)
    assert sorted(pk for message in broker.messages for pk in message) == list(range(count + 1))


def test_a_forked_child_starts_clean_even_if_the_parent_was_publishing():
    import os

    from adapters.delivery.queue import publisher

    broker = RecordingBroker()
    broker.release.clear()
    shared = publisher(broker)
    previous = shared._publish
    shared._publish = broker  # the process-wide publisher, pointed at this test's broker
    try:
        shared.submit([1])
        assert broker.entered.wait(timeout=5)
        shared.submit([2])  # pending in the parent while its publish is held
        pid = os.fork()
        if pid == 0:  # the child: its own thread, none of the parent's keys, a lock it can take
            child_messages: list[list[int]] = []
            shared._publish = child_messages.append
            shared.submit([3])
            ok = shared.flush(timeout=5) and child_messages == [[3]]
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        broker.release.set()
        assert shared.flush(timeout=5)
    finally:
        broker.release.set()
        shared.flush(timeout=5)
        shared._publish = previous
    assert os.waitstatus_to_exitcode(status) == 0
    assert broker.messages == [[1], [2]]


def test_a_process_sends_at_most_one_message_per_interval_and_the_rest_gathers():
    import time

    broker = RecordingBroker()
    publisher = Publisher(broker, min_interval=0.3)
    started = time.monotonic()
    publisher.submit([1])  # after a quiet spell: leaves at once
    assert broker.entered.wait(timeout=5)
    assert time.monotonic() - started < 0.2
    publisher.submit([2])
    publisher.submit([3])
    assert publisher.flush(timeout=5)
    assert broker.messages == [[1], [2, 3]]
    assert time.monotonic() - started >= 0.3


def test_after_a_quiet_interval_the_next_batch_leaves_at_once():
    import time

    broker = RecordingBroker()
    publisher = Publisher(broker, min_interval=0.1)
    publisher.submit([1])
    assert publisher.flush(timeout=5)
    time.sleep(0.15)
    started = time.monotonic()
    publisher.submit([2])
    assert publisher.flush(timeout=5)
    assert time.monotonic() - started < 0.08
    assert broker.messages == [[1], [2]]


def test_under_sustained_load_a_process_sends_a_few_messages_a_second_and_every_batch_once():
    """Each broker message costs a web process milliseconds of CPU under load (bench/README.md):
    while messages gather several batches, the interval stretches to ``max_interval``."""
    import time

    sent: list[tuple[float, int]] = []
    publisher = Publisher(
        lambda ids: sent.append((time.monotonic(), len(ids))), min_interval=0.05, max_interval=0.2
    )
    until = time.monotonic() + 1.5
    key = 0
    while time.monotonic() < until:  # 100 batches a second, well above one per interval
        key += 1
        publisher.submit([key])
        time.sleep(0.01)
    assert publisher.flush(timeout=5)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(sent)]
    assert max(gaps) >= 0.18, gaps  # it reached the ceiling
    assert len(sent) <= 16, sent  # not one message per 50 ms (30 of them)
    assert sum(count for _, count in sent) == key  # every batch sent, once


def test_the_interval_doubles_while_messages_gather_halves_as_load_eases_and_resets_for_a_lone_batch():
    publisher = Publisher(lambda ids: None, min_interval=0.05, max_interval=0.2)
    intervals = []
    for gathered in (5, 3, 9, 12, 2, 2, 4, 1):
        publisher._interval = publisher._next_interval(gathered)
        intervals.append(publisher._interval)
    assert intervals == pytest.approx([0.1, 0.2, 0.2, 0.2, 0.1, 0.05, 0.1, 0.05])


def test_without_a_ceiling_the_interval_stays_fixed():
    fixed = Publisher(lambda ids: None, min_interval=0.05)
    assert [fixed._next_interval(gathered) for gathered in (1, 2, 10)] == [0.05, 0.05, 0.05]
    immediate = Publisher(lambda ids: None)  # the in-process expansions: never wait
    assert immediate._next_interval(50) == 0.0
