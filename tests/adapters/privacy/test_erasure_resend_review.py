"""A statement id stored again after a delete-mode erasure (``adapters.delivery.outbox.stored_again``):
what its deliveries' keys must stay across what may happen to it afterwards."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.retention import delete_batch
from adapters.privacy.subjects import subject_for
from lrs.statements.models import Statement
from tests.adapters.helpers import scored_completion, store_now, voiding

pytestmark = pytest.mark.django_db


def _erase_and_relink(capture) -> None:
    with capture(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    finish_erasures()
    identity_links_upsert(employee_id="E100", identifiers=Identifiers(emails=["learner@example.com"]))


def _pms_events(pms_target) -> list[tuple[str, str]]:
    return [(event["statementId"], event["employeeId"]) for event in pms_target.events().values()]


def test_a_statement_stored_again_aged_out_by_retention_and_stored_once_more_is_a_repeat_at_the_pms(
    pms_target, django_capture_on_commit_callbacks
):
    """Retention ages a statement out of the LRS, not out of the PMS (README, "Retention"; the
    PMS's contract): the LMS sending it once more is a repeat, as for any statement. Its id was
    erased once, long before: that erasure's effects are gone, and the record retention removed
    was not erased, so the PMS must not get a second event beside the one it keeps."""
    capture = django_capture_on_commit_callbacks
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    store_now(capture, completion)
    _erase_and_relink(capture)
    [statement_id] = store_now(capture, completion)  # stored again: a new record, sent again
    assert _pms_events(pms_target) == [(statement_id, "E100")]

    pk = Statement.objects.get(statement_id=statement_id).pk
    assert delete_batch([pk])["statements_deleted"] == 1  # aged out; the PMS keeps its event
    store_now(capture, completion)  # the LMS syncs its records again

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    assert _pms_events(pms_target) == [(statement_id, "E100")]


def test_the_same_for_a_statement_never_erased(pms_target, django_capture_on_commit_callbacks):
    """The control: a statement aged out by retention and sent again is a repeat at the PMS."""
    capture = django_capture_on_commit_callbacks
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    [statement_id] = store_now(capture, completion)
    assert delete_batch([Statement.objects.get(statement_id=statement_id).pk])["statements_deleted"] == 1
    store_now(capture, completion)
    assert _pms_events(pms_target) == [(statement_id, "E100")]


@pytest.mark.parametrize("setting", ["SECRET_KEY", "LRS_PSEUDONYM_KEY"])
def test_a_void_of_a_statement_stored_again_retracts_it_after_the_key_changed(
    setting, pms_target, market_target, django_capture_on_commit_callbacks
):
    """The retraction of a delivery undoes that delivery: its key follows the delivery's, whatever
    became of the keyed hashes since (``SECRET_KEY`` rotated, from which the hash key derives by
    default, or ``LRS_PSEUDONYM_KEY`` changed: README says that changes future pseudonyms only)."""
    capture = django_capture_on_commit_callbacks
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    store_now(capture, completion)
    _erase_and_relink(capture)
    [statement_id] = store_now(capture, completion)
    assert len(market_target.skills()) == 1 and len(pms_target.events()) == 1

    with override_settings(**{setting: "a-new-key-" + "x" * 40}):
        store_now(capture, voiding(statement_id))

    assert pms_target.events() == {}
    assert market_target.skills() == {}
    retraction_keys = Delivery.objects.filter(kind="retract").values_list("idempotency_key", flat=True)
    assert all(":stored-again-" in key for key in retraction_keys)


def test_a_statement_erased_twice_and_stored_a_third_time_reaches_the_targets_each_time(
    pms_target, market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    store_now(capture, completion)
    _erase_and_relink(capture)
    [statement_id] = store_now(capture, completion)
    assert _pms_events(pms_target) == [(statement_id, "E100")] and len(market_target.skills()) == 1

    _erase_and_relink(capture)  # the second erasure retracts the second record's effects
    assert pms_target.events() == {} and market_target.skills() == {}
    store_now(capture, completion)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    assert _pms_events(pms_target) == [(statement_id, "E100")]
    assert len(market_target.skills()) == 1


def test_a_statement_stored_again_after_a_secret_key_rotation_reaches_the_targets(
    pms_target, market_target, django_capture_on_commit_callbacks, settings
):
    """``SECRET_KEY`` rotated the Django way (the old one in ``SECRET_KEY_FALLBACKS``), the hash
    key deriving from it (no ``LRS_PSEUDONYM_KEY``): the ids erased before are still known."""
    capture = django_capture_on_commit_callbacks
    settings.LRS_PSEUDONYM_KEY = ""
    completion = scored_completion(0.8, timestamp="2026-03-02T10:00:00Z", statement_id=str(uuid.uuid4()))
    store_now(capture, completion)
    _erase_and_relink(capture)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    [statement_id] = store_now(capture, completion)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    assert _pms_events(pms_target) == [(statement_id, "E100")]
    assert len(market_target.skills()) == 1
