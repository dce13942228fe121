"""Upgrading keeps existing webhook targets on the signature their receivers check (migration
0019); targets created afterwards default to Standard Webhooks."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_webhook_targets_from_before_keep_lrs_v1_and_others_are_untouched():
    executor = MigrationExecutor(connection)
    executor.migrate([("adapters", "0018_skill_evidence_erased")])
    old_apps = executor.loader.project_state([("adapters", "0018_skill_evidence_erased")]).apps
    Target = old_apps.get_model("adapters", "Target")
    Target.objects.create(
        name="old-hook", adapter="webhook", config={"url": "https://r.example/", "secret": "s"}
    )
    Target.objects.create(
        name="std-hook",
        adapter="webhook",
        config={"url": "https://r.example/", "secret": "s", "signature": "standard"},
    )
    Target.objects.create(name="pms", adapter="pms", config={"base_url": "https://p.example"})
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from adapters.models import Target as CurrentTarget

    configs = {target.name: target.config for target in CurrentTarget.objects.all()}
    assert configs["old-hook"]["signature"] == "lrs-v1"
    assert configs["std-hook"]["signature"] == "standard"
    assert "signature" not in configs["pms"]
