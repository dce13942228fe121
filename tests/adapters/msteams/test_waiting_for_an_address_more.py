"""``test_waiting_for_an_address``, further ways: an address from the identity CSV import (one
release for the file: ``holds.releases_batched``), from the HRIS JSON feed, and an erasure of the
employee, by employee id or by the account, in delete mode. Checked on what the fake Graph holds."""

from __future__ import annotations

import json

import pytest

from adapters.identity.hris import hris_import, rows_from_text
from adapters.identity.links import identity_links_import_csv
from adapters.models import Delivery
from adapters.privacy.erasure import erase_subject
from adapters.privacy.subjects import subject_for
from tests.adapters.msteams.test_waiting_for_an_address import ACCOUNT, feed, stored_while_unaddressed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]
__all__ = ["feed"]  # the fixture, imported for these tests


def test_an_address_from_the_identity_csv_import_releases_the_notification(
    feed, django_capture_on_commit_callbacks
):
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        identity_links_import_csv("employee_id,email\nE999,other@example.com\nE300,bo@example.com\n")
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert [n["user"] for n in feed.notifications()] == ["bo@example.com"]


def test_an_address_from_the_hris_json_feed_releases_the_notification(
    feed, django_capture_on_commit_callbacks
):
    stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    row = {"employee_id": "E300", "emails": ["bo@example.com"], "status": "active"}
    with django_capture_on_commit_callbacks(execute=True):
        hris_import(rows_from_text(json.dumps(row) + "\n", jsonl=True))
    assert Delivery.objects.get().status == Delivery.DELIVERED
    assert [n["user"] for n in feed.notifications()] == ["bo@example.com"]


@pytest.mark.parametrize("named_by", ["employee_id", "account"])
def test_an_erasure_in_delete_mode_cancels_the_waiting_notification(
    feed, django_capture_on_commit_callbacks, named_by
):
    delivery = stored_while_unaddressed(feed, django_capture_on_commit_callbacks)
    subject = (
        subject_for(employee_id="E300")
        if named_by == "employee_id"
        else subject_for(agent={"objectType": "Agent", "account": ACCOUNT})
    )
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject, mode="delete", requested_by="dpo")
    left = Delivery.objects.filter(id=delivery.id).values_list("status", flat=True).first()
    assert left in {None, Delivery.CANCELLED}, left
    assert feed.notifications() == []
