"""config/prometheus/alerts.yml parses as Prometheus rule groups and names only metrics the LRS
exports at GET /metrics (with a reconciliation run and every delivery status present)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from adapters.models import ReconciliationRun, Target
from adapters.ops.metrics import render_metrics

RULES = Path(__file__).resolve().parents[2] / "config" / "prometheus" / "alerts.yml"


def exported_names() -> set[str]:
    names = set()
    for line in render_metrics().splitlines():
        match = re.match(r"# TYPE (\w+) (\w+)", line)
        if match:
            name, kind = match.groups()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter":  # prometheus-client: the samples are name_total (and name_created)
                names |= {f"{name}_total", f"{name}_created"}
    return names


@pytest.mark.django_db
def test_every_alert_rule_names_only_exported_metrics():
    target = Target.objects.create(name="hook", adapter="webhook", config={"url": "http://x/", "secret": "s"})
    now = timezone.now()
    ReconciliationRun.objects.create(
        target=target,
        since=now - timedelta(days=1),
        until=now,
        drift_percent=0.0,
        success_percent=100.0,
        finished_at=now,
    )
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "LRSReconciliationDrift",
        "LRSDeliverySuccessLow",
        "LRSDeliveryLagHigh",
        "LRSHeldShareHigh",
        "LRSDeadLetters",
        "LRSTargetPaused",
    }
    exported = exported_names()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        used = {name for name in re.findall(r"\b(lrs_\w+)", rule["expr"])}
        assert used and used <= exported, (rule["alert"], used - exported)
