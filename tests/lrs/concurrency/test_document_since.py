"""A client polling a document list with ``since`` misses no change made while it polls.

Communication 2.3/2.6/2.7: the id list with ``since`` holds the documents "stored since the
specified Timestamp (exclusive)", and the list's Last-Modified is the latest change it holds. A
client that polls with the Last-Modified it was last given must, over its polls, see every
document stored: a write whose time is before that Last-Modified but that commits after the list
was read would fall between two polls for good.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#23-state-resource
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import SimpleNamespace

import pytest

from lrs.documents import services
from tests.conftest import XAPIClient
from tests.lrs.api.document_helpers import ACTIVITY_PROFILE, AGENT, AGENT_PROFILE, STATE, send
from tests.lrs.concurrency.threads import POSTGRESQL_ONLY, client_like
from tests.lrs.statements.races import in_thread, wait_for_lock_wait

pytestmark = pytest.mark.django_db(transaction=True)

NEW = {"If-None-Match": "*"}  # 1.0.3 profile PUTs of a new document need it (Communication 2.7)

CONTEXTS = pytest.mark.parametrize(
    "path, params",
    [
        (STATE, {"activityId": "http://example.com/activities/a", "agent": AGENT}),
        (ACTIVITY_PROFILE, {"activityId": "http://example.com/activities/a"}),
        (AGENT_PROFILE, {"agent": AGENT}),
    ],
    ids=["state", "activity profile", "agent profile"],
)


@pytest.fixture
def second_per_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write's clock reading one second after the previous one: Last-Modified (an HTTP date,
    whole seconds) then tells every write apart, whatever the machine's speed."""
    start = datetime.now(UTC)
    ticks = itertools.count(1)
    lock = threading.Lock()

    def now() -> datetime:
        with lock:
            return start + timedelta(seconds=next(ticks))

    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=now))


def _poll(xapi: XAPIClient, path: str, params: dict, since: datetime) -> tuple[list[str], datetime]:
    response = send(xapi, "get", path, {**params, "since": since.isoformat()})
    assert response.status_code == 200
    last_modified = response.get("Last-Modified")
    return response.json(), parsedate_to_datetime(last_modified) if last_modified else since


@CONTEXTS
@pytest.mark.usefixtures("second_per_write")
@POSTGRESQL_ONLY
def test_a_document_committed_after_a_later_one_is_still_found_by_the_next_poll(
    xapi: XAPIClient, path: str, params: dict
):
    id_param = "stateId" if path == STATE else "profileId"
    slow, fast = {**params, id_param: "slow"}, {**params, id_param: "fast"}
    since = datetime.now(UTC) - timedelta(hours=1)
    ran, go_on = threading.Event(), threading.Event()
    # The slow write reads the clock first, then its transaction stays open while the fast one runs.
    holder, held = in_thread(
        lambda: send(client_like(xapi), "put", path, slow, {"slow": 1}, headers=NEW), held=ran, hold=go_on
    )
    other = None
    seen: list[str] = []
    try:
        assert ran.wait(10)
        other, fast_outcome = in_thread(
            lambda: send(client_like(xapi), "put", path, fast, {"fast": 1}, headers=NEW), in_transaction=False
        )
        wait_for_lock_wait("SELECT", other)
        ids, since = _poll(xapi, path, params, since)
        seen += ids
    finally:
        go_on.set()
        holder.join(20)
        if other is not None:
            other.join(20)
    assert held.error is None and held.value.status_code == 204, held
    assert fast_outcome.error is None and fast_outcome.value.status_code == 204, fast_outcome
    ids, since = _poll(xapi, path, params, since)
    seen += ids
    assert sorted(set(seen)) == ["fast", "slow"], f"polls saw {seen}"


@CONTEXTS
def test_a_change_made_by_a_server_whose_clock_is_behind_is_still_found_by_the_next_poll(
    xapi: XAPIClient, path: str, params: dict, monkeypatch: pytest.MonkeyPatch
):
    """Two application servers whose clocks differ by a few seconds write the same context one
    after the other: the second change must still come after the Last-Modified the client was
    given for the first, else a poll with that ``since`` (exclusive) never shows it."""
    id_param = "stateId" if path == STATE else "profileId"
    since = datetime.now(UTC) - timedelta(hours=1)
    seen: list[str] = []
    for document_id, skew in (("ahead", 5), ("behind", -5)):
        reading = datetime.now(UTC) + timedelta(seconds=skew)
        monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda reading=reading: reading))
        response = send(xapi, "put", path, {**params, id_param: document_id}, {"v": 1}, headers=NEW)
        assert response.status_code == 204
        ids, since = _poll(xapi, path, params, since)
        seen += ids
    assert sorted(set(seen)) == ["ahead", "behind"], f"polls saw {seen}"
