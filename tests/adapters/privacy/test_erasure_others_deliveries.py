"""An erasure leaves other people's deliveries as they were: the erased person's identifiers go,
not the keys by which another learner's held delivery is released."""

from __future__ import annotations

import pytest

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db
PERSON = {"objectType": "Agent", "name": "A Learner", "mbox": "mailto:learner@example.com"}  # E100


def test_erasing_an_instructor_does_not_strand_anothers_held_delivery(
    pms_target, django_capture_on_commit_callbacks
):
    # Bee is not linked yet: her completion waits (held) for her identity link. Its instructor is E100.
    bees = make_statement(
        actor_email="bee@example.com",
        activity=COURSE,
        result={"completion": True},
        context={"instructor": PERSON},
    )
    store_now(django_capture_on_commit_callbacks, bees)
    held = Delivery.objects.get(target__name="pms")
    assert held.status == Delivery.HELD and held.held_key == "email:bee@example.com"

    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_upsert(employee_id="E200", identifiers=Identifiers(emails=["bee@example.com"]))

    held.refresh_from_db()
    assert held.status == Delivery.DELIVERED, (held.status, held.held_key, held.last_error)
    assert [e["employeeId"] for e in pms_target.events().values()] == ["E200"]
