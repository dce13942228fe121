"""A statement whose optional field the marketplace cannot take (badges given as an object, which
the LRS accepts: extension values are any JSON) still gives the member's record, without it."""

from __future__ import annotations

import pytest

from adapters.models import Delivery
from tests.adapters.helpers import scored_completion, store_now

pytestmark = pytest.mark.django_db

BADGES = "https://lrs.example.org/xapi/extensions/badges"


def test_an_odd_optional_badge_leaves_the_badges_out_not_the_members_skill(
    market_target, django_capture_on_commit_callbacks, caplog: pytest.LogCaptureFixture
):
    """S1 (level 5) decides the record; were the odd badges a permanent failure, every later
    delivery of the skill (S1 still deciding) would fail the same way: live evidence, no record."""
    s1 = scored_completion(0.95, timestamp="2026-03-01T10:00:00Z")
    s1["context"] = {"extensions": {BADGES: {"name": "Gold"}}}
    [s1_id] = store_now(django_capture_on_commit_callbacks, s1)
    s2 = store_now(
        django_capture_on_commit_callbacks, scored_completion(0.6, timestamp="2026-03-02T10:00:00Z")
    )[0]
    states = list(Delivery.objects.values_list("status", "last_error"))
    held = market_target.skills().get(("E100", "SAFETY-BASICS"))
    assert held is not None, states
    assert held["level"] == 5 and {item["statementId"] for item in held["evidence"]} == {s1_id, s2}
    assert "badges" not in held
    assert "optional badges left out" in caplog.text and "Gold" not in caplog.text
