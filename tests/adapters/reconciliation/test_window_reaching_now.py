"""A reconciliation whose window reaches the present (``--until`` now or later, as after a repair
"then run again", README "Reconciliation and alerts") while statements keep arriving: one stored
and delivered while the run reads is no drift, and a repair never retracts a live statement's
effect. Against the fake PMS, which the run reads back (adapters/reconciliation/)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from adapters.reconciliation.run import reconcile
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def completion() -> dict:
    return make_statement(activity=COURSE, result={"completion": True, "score": {"scaled": 0.9}})


def test_a_statement_stored_and_delivered_while_a_repairing_run_reads_is_not_retracted(
    pms_target, django_capture_on_commit_callbacks
):
    [first] = store_now(django_capture_on_commit_callbacks, completion())
    arrived: list[str] = []

    def meanwhile(_read: int) -> None:
        """The live fan-out goes on while the run reads: once it has read the window's statements."""
        if arrived:
            return
        arrived.extend(statement_store(statements=[completion()], credential=None))
        for delivery_id in expand_outbox():
            delivery_send(delivery_id)

    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        run = reconcile(
            target=Target.objects.get(name="pms"),
            since=now - timedelta(hours=1),
            until=now + timedelta(minutes=1),
            repair=True,
            progress=meanwhile,
        )

    held = {event["statementId"] for event in pms_target.events().values()}
    retractions = Delivery.objects.filter(kind="retract").values_list("statement_uuid", flat=True)
    assert (sorted(held), [str(uuid) for uuid in retractions]) == (sorted([first, *arrived]), []), (
        "a live statement delivered while the run read was counted extra and retracted",
        run.counts,
    )
