"""A delivery whose lease on a record ran out during a slow send does not record its write as what
the marketplace holds: another delivery may have taken the lease and written since, and the
later-landing answer says nothing of which write the marketplace holds last. The record stays
unconfirmed, so the next recomputation sends whatever the evidence gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.marketplace.adapter import MarketplaceAdapter
from adapters.models import SkillRecord
from tests.adapters.helpers import scored_completion, store_now

pytestmark = pytest.mark.django_db


def test_a_write_answered_after_its_lease_was_taken_over_is_not_recorded_as_held(
    market_target, django_capture_on_commit_callbacks, monkeypatch
):
    store_now(django_capture_on_commit_callbacks, scored_completion(0.6))
    [row] = SkillRecord.objects.all()
    assert not row.unconfirmed and row.record is not None
    first = row.record
    real_send = MarketplaceAdapter.send

    def slow_send(self, request, context):
        # The lease ran out while this PUT was out; another delivery took it over.
        SkillRecord.objects.update(lease_token="another", lease_until=timezone.now() + timedelta(minutes=1))
        return real_send(self, request, context)

    monkeypatch.setattr(MarketplaceAdapter, "send", slow_send)
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    row.refresh_from_db()
    assert row.unconfirmed and row.record == first  # not taken for what the marketplace holds


def test_an_overtaken_write_landing_last_leaves_the_record_unconfirmed_not_the_others(
    market_target, django_capture_on_commit_callbacks, monkeypatch
):
    """The other delivery took the lease over, wrote and was confirmed while this one's PUT was
    out; this PUT lands last: the row must not say the other's record is what the marketplace
    holds. It is unconfirmed, so the delivery's run again (or the next) sends the right one."""
    store_now(django_capture_on_commit_callbacks, scored_completion(0.6))
    [row] = SkillRecord.objects.all()
    first = row.record
    real_send = MarketplaceAdapter.send

    def slow_send(self, request, context):
        SkillRecord.objects.update(
            lease_token="another",
            lease_until=timezone.now() + timedelta(minutes=1),
            record=first,
            unconfirmed=False,
            writing="",
        )
        return real_send(self, request, context)  # this write lands last

    monkeypatch.setattr(MarketplaceAdapter, "send", slow_send)
    store_now(django_capture_on_commit_callbacks, scored_completion(0.95))
    row.refresh_from_db()
    held = list(market_target.skills().values())
    assert row.unconfirmed or row.record in held, (row.unconfirmed, row.record, held)
