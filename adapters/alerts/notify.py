"""Send each alert transition once to every alert target, through its adapter's
``alert_requests`` and ``send`` (the one HTTP seam), with the transition's key as idempotency key;
every attempt is recorded on the alert, and a transition stays queued for the targets that did not
take it yet (the next evaluation tries again)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from adapters.base import AdapterError, AlertNotice, DeliveryContext
from adapters.models import Alert, Target
from adapters.registry import adapter_for
from adapters.secrets import SecretUnavailable

logger = logging.getLogger(__name__)
MESSAGES_KEPT = 50


def alert_targets() -> list[Target]:
    return list(
        Target.objects.filter(enabled=True, receives__in=[Target.RECEIVES_ALERTS, Target.RECEIVES_BOTH])
    )


def admin_link(target_id: int) -> str:
    return settings.LRS_PUBLIC_URL.rstrip("/") + reverse("admin:adapters_target_change", args=[target_id])


def send_unsent() -> int:
    """Send the queued transitions; how many messages went out."""
    receivers = alert_targets()
    if not receivers:  # kept until an alert target is configured
        return 0
    sent = 0
    for alert_id in Alert.objects.exclude(unsent=[]).values_list("id", flat=True):
        with transaction.atomic():
            alert = Alert.objects.select_for_update().select_related("target").get(id=alert_id)
            remaining = []
            for transition in alert.unsent:
                sent += _send(alert, transition, receivers)
                if {t.name for t in receivers} - set(transition["sent_to"]):
                    remaining.append(transition)
            alert.unsent = remaining
            alert.messages = alert.messages[-MESSAGES_KEPT:]
            alert.save(update_fields=["unsent", "messages"])
    return sent


def _send(alert: Alert, transition: dict, receivers: list[Target]) -> int:
    notice = AlertNotice(
        rule=alert.rule,
        target_name=alert.target.name,
        state=transition["state"],
        value=transition["value"],
        threshold=transition["threshold"],
        text=transition["text"],
        link=admin_link(alert.target_id),
        key=transition["key"],
    )
    transition["attempts"] += 1
    sent = 0
    for receiver in receivers:
        if receiver.name in transition["sent_to"]:
            continue
        record = {"at": timezone.now().isoformat(), "to": receiver.name, "state": notice.state}
        try:
            adapter = adapter_for(receiver.adapter, receiver.config)
            context = DeliveryContext(
                target_name=receiver.name,
                kind="alert",
                idempotency_key=notice.key,
                attempt=transition["attempts"],
            )
            for request in adapter.alert_requests(notice):
                result = adapter.send(request, context)
            record["status"] = result.status_code
            transition["sent_to"].append(receiver.name)
            sent += 1
        except (AdapterError, SecretUnavailable, NotImplementedError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            logger.warning("alert %s to %s not sent: %s", notice.key, receiver.name, record["error"])
        alert.messages = [*alert.messages, record]
    return sent
