"""The admin: the targets' action reconciles (inline without a broker), and a run's page shows its
figures, days and mismatches linked to the statement and the delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from adapters.models import ReconciliationRun, Target
from adapters.reconciliation.run import reconcile
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


def test_the_targets_action_reconciles_and_the_run_page_links_each_mismatch(
    admin_client, pms_target, django_capture_on_commit_callbacks, monkeypatch
):
    pms_target.lose_every(1)  # every event lost
    [statement_id] = store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    target = Target.objects.get(name="pms")
    response = admin_client.post(
        reverse("admin:adapters_target_changelist"),
        {"action": "reconcile_now", "_selected_action": [target.pk]},
        follow=True,
    )
    assert response.status_code == 200, response.status_code
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["reconciling 1 target(s): see Reconciliation runs"]
    assert ReconciliationRun.objects.filter(target=target).count() == 1  # run inline: no broker here

    now = timezone.now()
    run = reconcile(target=target, since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    page = admin_client.get(reverse("admin:adapters_reconciliationrun_change", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "missing" in html and statement_id in html
    assert reverse("admin:lrs_statement_changelist") + f"?q={statement_id}" in html
    delivery_id = run.mismatches[0]["delivery_id"]
    assert reverse("admin:adapters_delivery_change", args=[delivery_id]) in html
    listing = admin_client.get(reverse("admin:adapters_reconciliationrun_changelist"))
    assert listing.status_code == 200 and b"100.000" in listing.content


def test_the_repair_action_reconciles_with_repair(admin_client, pms_target):
    target = Target.objects.get(name="pms")
    admin_client.post(
        reverse("admin:adapters_target_changelist"),
        {"action": "reconcile_and_repair", "_selected_action": [target.pk]},
    )
    assert ReconciliationRun.objects.get(target=target).repair is True
