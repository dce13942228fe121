"""An erasure leaves no mirror row naming the erased member at the marketplace's side: neither of
records its retractions revoked nor of one a corrected mapping deleted before (``SkillRecord``
keeps the record last sent, or that it was deleted, per member and competency)."""

from __future__ import annotations

import pytest

from adapters.delivery.replay import backfill
from adapters.models import CompetencyMapping, ErasureRequest, SkillRecord, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import COURSE, scored_completion, store_now

pytestmark = pytest.mark.django_db

TWO_CODES = [{"activity_id": COURSE, "codes": ["FIRST-AID", "SAFETY-BASICS"], "level": {"fixed": 3}}]
ONE_CODE = [{"activity_id": COURSE, "codes": ["SAFETY-BASICS"], "level": {"fixed": 2}}]


@pytest.mark.parametrize("mode", ["pseudonymise", "delete"])
def test_an_erasure_forgets_the_member_s_mirror_rows_of_records_a_corrected_mapping_deleted(
    mode, market_target, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    CompetencyMapping.objects.filter(is_active=True).update(rules=TWO_CODES)
    store_now(capture, scored_completion(0.8))
    CompetencyMapping.objects.filter(is_active=True).update(version="2026.2", rules=ONE_CODE)
    with capture(execute=True):
        backfill(target=Target.objects.get(name="market"), force=True)
    assert set(market_target.skills()) == {("E100", "SAFETY-BASICS")}
    assert SkillRecord.objects.filter(
        member_id="E100", competency_code="FIRST-AID", record__isnull=True
    ).exists()

    with capture(execute=True):  # the retraction of SAFETY-BASICS runs at once
        erase_subject(subject_for(employee_id="E100"), mode=mode, requested_by="dpo")
    finish_erasures()
    assert ErasureRequest.objects.get().status == ErasureRequest.DONE
    assert market_target.skills() == {}
    assert list(SkillRecord.objects.values_list("member_id", "competency_code")) == []
