"""Evaluate every rule for every target that takes statements, with hysteresis: an alert is raised
the first time its figure crosses the threshold and cleared only after the figure has stayed
within it for ``LRS_ALERT_CLEAR_AFTER`` evaluations in a row, so a flapping figure gives one
alert and one recovery. Each transition is queued on the alert (``unsent``) and sent by
``notify.send_unsent``."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from adapters.alerts.figures import target_figures
from adapters.alerts.notify import send_unsent
from adapters.alerts.rules import RULES, Rule
from adapters.models import Alert, Target


def evaluate(
    *, now: datetime | None = None, rules: tuple[Rule, ...] = RULES, target_ids: list[int] | None = None
) -> int:
    """Evaluate, then send what changed; the number of transitions."""
    now = now or timezone.now()
    targets = Target.objects.filter(enabled=True).exclude(receives=Target.RECEIVES_ALERTS)
    if target_ids is not None:
        targets = targets.filter(id__in=target_ids)
    transitions = 0
    for target in targets:
        figures = target_figures(target, now)
        for rule in rules:
            transitions += _judge(target, rule, figures[rule.name], now)
    send_unsent()
    return transitions


def _judge(target: Target, rule: Rule, value: float | None, now: datetime) -> int:
    with transaction.atomic():
        alert, _ = Alert.objects.select_for_update().get_or_create(rule=rule.name, target=target)
        if rule.name == "paused":  # the figure is how long it has been paused
            if value:
                alert.breaching_since = alert.breaching_since or now
                value = (now - alert.breaching_since).total_seconds() / 60
            else:
                alert.breaching_since = None
        alert.value, alert.threshold, alert.evaluated_at = value, rule.threshold, now
        changed = 0
        if rule.breaches(value):
            alert.calm_evaluations = 0
            if not alert.raised:
                alert.raised, alert.raised_at, changed = True, now, 1
                alert.unsent = [*alert.unsent, _transition(alert, rule, target, "raised", value, now)]
        elif alert.raised and value is not None:  # no figure (nothing delivered lately) is no calm
            alert.calm_evaluations += 1
            if alert.calm_evaluations >= settings.LRS_ALERT_CLEAR_AFTER:
                alert.raised, alert.cleared_at, alert.calm_evaluations, changed = False, now, 0, 1
                alert.unsent = [*alert.unsent, _transition(alert, rule, target, "cleared", value, now)]
        alert.save()
        return changed


def _transition(
    alert: Alert, rule: Rule, target: Target, state: str, value: float | None, now: datetime
) -> dict:
    return {
        "state": state,
        "at": now.isoformat(),
        "value": value,
        "threshold": rule.threshold,
        "text": rule.describe(target.name, value, cleared=state == "cleared"),
        "key": f"alert:{alert.pk}:{state}:{now.isoformat()}",
        "sent_to": [],
        "attempts": 0,
    }
