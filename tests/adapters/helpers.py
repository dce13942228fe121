"""Small test helpers shared by the fan-out tests.

Delivery happens in other threads and processes, so tests wait for an observable outcome
(with a deadline) instead of sleeping for a guessed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 20, interval: float = 0.1, message: str | None = None
) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    Raises AssertionError (so pytest reports it as a failed expectation, naming ``message`` or
    the predicate) when ``timeout`` seconds pass first. Exceptions from ``predicate`` propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last value: {value!r})")
        time.sleep(interval)


def busiest_second(times: list[float]) -> int:
    """The most of ``times`` (seconds) within any one second: what a target's rate limit counts."""
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it, so parallel runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def restartable_port(host: str = "127.0.0.1") -> int:
    """A free TCP port below the kernel's ephemeral range, for a server a test stops and starts
    again on the same port. A port ``free_port`` picks is in that range: between the stop and the
    restart, any outgoing connection on the machine may be given it as its local port, and the
    restart then fails with "address already in use" (seen once in a CI run)."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    candidates = list(range(max(1024, low - 12_000), low))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def port_refuses(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``port`` (the connection is refused)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def live_group_members(pgid: int) -> list[int]:
    """Pids of the process group that are still running (zombies count as dead).

    Needed because the container's init may not reap orphans promptly, and ``killpg(pgid, 0)``
    succeeds on zombies.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # not Linux: fall back to signal 0
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def expand_outbox() -> list[int]:
    """Write the deliveries of every outbox batch now, as the worker's ``dispatch_batch`` task
    does after commit (for tests that store statements in a transaction that never commits);
    returns the ids of the pending deliveries."""
    from adapters.delivery.outbox import outbox_expand
    from adapters.models import OutboxBatch

    return outbox_expand(list(OutboxBatch.objects.values_list("id", flat=True)))


ADL = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.example.com/courses/safety-101"


def store_now(capture, *statements: dict) -> list[str]:
    """Store statements in-process as an LMS POST would, running the after-commit hooks (the
    eager fan-out: deliveries are attempted right away); returns their ids."""
    from lrs.statements.store import statement_store

    with capture(execute=True):
        return statement_store(statements=list(statements), credential=None)


def scored_completion(scaled: float, *, email: str = "learner@example.com", **extra) -> dict:
    """A completion of ``COURSE`` by ``email`` (E100's address in the fake HRIS), scored
    ``scaled``; ``extra`` as ``make_statement`` takes it (a timestamp, a statement id)."""
    from tests.conftest import make_statement

    return make_statement(
        actor_email=email, activity=COURSE, result={"completion": True, "score": {"scaled": scaled}}, **extra
    )


def reconcile_now(capture, target_name: str, *, repair: bool = False):
    """A reconciliation of the target over the last hour (and the next minute), its repairs'
    deliveries run eagerly after commit; the stored run."""
    from datetime import timedelta

    from django.utils import timezone

    from adapters.models import Target
    from adapters.reconciliation.run import reconcile

    now = timezone.now()
    with capture(execute=True):
        return reconcile(
            target=Target.objects.get(name=target_name),
            since=now - timedelta(hours=1),
            until=now + timedelta(minutes=1),
            repair=repair,
        )


def teams_channel_config(graph_server, channel_id: str) -> dict:
    """A Teams target posting to ``channel_id`` of team-1 at the fake Graph as the user whose
    refresh token ``GRAPH_REFRESH`` holds (delegated), client secret from ``GRAPH_SECRET``."""
    return {
        "mode": "channel_message",
        "tenant_id": graph_server.tenant_id,
        "client_id": graph_server.client_id,
        "client_secret": {"env": "GRAPH_SECRET"},
        "refresh_token": {"env": "GRAPH_REFRESH"},
        "login_base": graph_server.url,
        "graph_base": graph_server.url,
        "team_id": "team-1",
        "channel_id": channel_id,
    }


def teams_feed_config(graph_server, **extra) -> dict:
    """A Teams target notifying learners in their activity feed at the fake Graph (application
    token, client secret from ``GRAPH_SECRET``), plus ``extra``."""
    return {
        "mode": "activity_feed",
        "tenant_id": graph_server.tenant_id,
        "client_id": graph_server.client_id,
        "client_secret": {"env": "GRAPH_SECRET"},
        "login_base": graph_server.url,
        "graph_base": graph_server.url,
        **extra,
    }


def pms_config(pms_server, **extra) -> dict:
    """A PMS target at the fake PMS (client secret from ``PMS_SECRET``), plus ``extra``."""
    return {
        "base_url": pms_server.url,
        "token_url": pms_server.token_url,
        "client_id": "lrs-pms",
        "client_secret": {"env": "PMS_SECRET"},
        **extra,
    }


def voiding(statement_id: str, **extra) -> dict:
    """A statement voiding ``statement_id`` (xAPI 1.0.3 Data 2.3.2)."""
    from tests.conftest import make_statement

    return make_statement(
        verb=ADL + "voided", object={"objectType": "StatementRef", "id": statement_id}, **extra
    )


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus page: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def webhook_targets_file(folder: Path, url: str, **config: object) -> Path:
    """An ``LRS_TARGETS_FILE`` with one webhook target, ``hook``, at ``url``, signing with the
    secret in ``TEST_WEBHOOK_SECRET``; ``config``: more of its settings (``timeout_seconds``)."""
    path = folder / "targets.json"
    config = {"url": url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, **config}
    path.write_text(json.dumps([{"name": "hook", "adapter": "webhook", "config": config}]))
    return path


def voids_after_their_store(order: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The drawn order with each void moved to just after its statement's store, if drawn before."""
    result: list[tuple[str, int]] = []
    waiting: set[int] = set()
    for kind, index in order:
        if kind == "void" and ("store", index) not in result:
            waiting.add(index)
            continue
        result.append((kind, index))
        if kind == "store" and index in waiting:
            result.append(("void", index))
    return result


def run_pending(
    fake,
    data,
    *,
    all_of_them: bool = False,
    failing_later: bool = False,
    after: Callable[[int], None] | None = None,
) -> None:
    """The property tests' deliveries (PMS, marketplace): run due deliveries in an order hypothesis
    chooses, as many as it chooses (a failed one may still wait when the next statement or void
    comes) or all, some after a failed attempt: a 500 the target did not apply, or one it applied
    before failing to answer (the sender cannot tell which), never enough to give up.
    ``failing_later``: the failure may strike a later request of the attempt (a repair: look-up,
    DELETE, POST); ``after(delivery_id)``: once each delivery ran."""
    from datetime import timedelta

    from django.utils import timezone
    from hypothesis import strategies as st

    from adapters.delivery.drain import delivery_send
    from adapters.models import Delivery, Target
    from tests.targets.behaviours import applied_then, ok, status

    while True:
        due = sorted(
            Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list(
                "id", flat=True
            )
        )
        if not due or (not all_of_them and not data.draw(st.booleans(), label="deliver one more")):
            return
        delivery_id = data.draw(st.sampled_from(due), label="deliver")
        failure = data.draw(st.sampled_from([None, status(500), applied_then(500)]), label="answer")
        if Delivery.objects.get(id=delivery_id).attempts < 3 and failure is not None:
            leading = data.draw(st.integers(0, 2), label="failing request") if failing_later else 0
            fake.enqueue(*[ok()] * leading, failure)
        Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        # The property is about state, not pacing: failed attempts must not pause the target.
        Target.objects.update(paused_until=None, consecutive_failures=0)
        delivery_send(delivery_id)
        fake.clear_queue()  # a failure this delivery did not use lapses
        if after is not None:
            after(delivery_id)


def erase_while_sending(monkeypatch, delivery_id: int, *, mode: str, employee_id: str = "E100") -> None:
    """Run the webhook delivery in a worker thread whose send waits for its turn (under the rate
    limit: it read its statement already), erase the person while it waits, then let it go and run
    the sweep's next ``finish_erasures``, once the send settled."""
    import threading

    from django.db import connections

    from adapters.delivery.drain import delivery_send
    from adapters.privacy.erasure import erase_subject, finish_erasures
    from adapters.privacy.subjects import subject_for
    from adapters.webhook.adapter import WebhookAdapter

    ready, go = threading.Event(), threading.Event()
    real_send = WebhookAdapter.send_prepared

    def send_in_its_slot(self, prepared):
        ready.set()
        go.wait(10)
        return real_send(self, prepared)

    monkeypatch.setattr(WebhookAdapter, "send_prepared", send_in_its_slot)

    def worker() -> None:
        try:
            delivery_send(delivery_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert ready.wait(10)
        erase_subject(subject_for(employee_id=employee_id), mode=mode, requested_by="dpo")
    finally:
        go.set()
        thread.join(20)
    finish_erasures()


def pending_deliveries(count: int, monkeypatch) -> None:
    """``count`` statements stored and their deliveries written, none sent yet (under test the
    worker's expansion runs eagerly at commit, and would drain them at once)."""
    from adapters.delivery import outbox
    from lrs.statements.store import statement_store
    from tests.conftest import make_statement

    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        statement_store(statements=[make_statement() for _ in range(count)], credential=None)
    expand_outbox()


def claimed_until(target, seconds: float) -> list:
    """The target's due deliveries claimed by this worker, the claim ending ``seconds`` from now in
    the database and in memory alike (nothing else has touched it)."""
    from datetime import timedelta

    from django.utils import timezone

    from adapters.delivery.drain import claim_due
    from adapters.models import Delivery

    claimed = claim_due(target, 10)
    assert claimed
    ends = timezone.now() + timedelta(seconds=seconds)
    Delivery.objects.filter(id__in=[delivery.id for delivery in claimed]).update(claimed_until=ends)
    for delivery in claimed:
        delivery.claimed_until = ends
    return claimed


SLACK_METHODS = (
    "chat.postMessage",
    "users.lookupByEmail",
    "conversations.list",
    "conversations.history",
    "conversations.open",
)


def slack_retry_after_passed(fake) -> None:
    """Slack's Retry-After has passed: no Web API method of the fake's workspace is held any more
    (adapters/slack/throttle.py keeps each hold in the shared cache, in real time). For a test
    retrying at once a delivery Slack refused 429, its retry due as if the wait were over."""
    from django.core.cache import cache

    from adapters.slack import throttle

    cache.delete_many([throttle.key_for(fake.api_url, fake.bot_token, method) for method in SLACK_METHODS])
