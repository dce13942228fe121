"""Send each alert transition once to every alert target, through its adapter's
``alert_requests`` and ``send`` (the one HTTP seam), with the transition's key as idempotency key;
every attempt is recorded on the alert, and a transition stays queued for the targets that did not
take it yet (the next evaluation tries again)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from adapters.base import AdapterError, AlertNotice, DeliveryContext
from adapters.models import Alert, Target
from adapters.outbound import failure_text
from adapters.redaction import redacted_text
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
    """Send the queued transitions; how many messages went out.

    Each transition's attempt is counted (committed) before it is sent, and each receiver's
    outcome is committed on its own, under the alert's lock, as soon as it is known: a receiver
    failing, however oddly, neither undoes what the others took nor has it sent to them again,
    and two evaluations at once do not both send a transition to the same receiver."""
    receivers = alert_targets()
    if not receivers:  # kept until an alert target is configured
        return 0
    names = {receiver.name for receiver in receivers}
    sent = 0
    for alert_id in Alert.objects.exclude(unsent=[]).values_list("id", flat=True):
        for key in _count_attempt(alert_id, names):
            for receiver in receivers:
                sent += _send_to(alert_id, key, receiver, names)
    return sent


def _count_attempt(alert_id: int, names: set[str]) -> list[str]:
    """Count one more attempt of each transition of the alert some receiver still lacks; their
    keys. One every receiver now configured took (a receiver that failed was disabled or
    removed since) leaves the queue here."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(id=alert_id)
        alert.unsent = [t for t in alert.unsent if names - set(t["sent_to"])]
        for transition in alert.unsent:
            transition["attempts"] += 1
        alert.save(update_fields=["unsent"])
        return [transition["key"] for transition in alert.unsent]


def _send_to(alert_id: int, key: str, receiver: Target, names: set[str]) -> int:
    """Send the transition ``key`` to ``receiver`` unless it took it already, and record the
    outcome; 1 if it took it now. The transition leaves ``unsent`` once every receiver took it."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("target").get(id=alert_id)
        transition = next((t for t in alert.unsent if t["key"] == key), None)
        if transition is None or receiver.name in transition["sent_to"]:
            return 0  # taken meanwhile (another evaluation sent it)
        record = _send(alert, transition, receiver)
        took = "status" in record
        if took:
            transition["sent_to"].append(receiver.name)
        alert.unsent = [t for t in alert.unsent if names - set(t["sent_to"])]
        alert.messages = [*alert.messages, record][-MESSAGES_KEPT:]
        alert.save(update_fields=["unsent", "messages"])
    return int(took)


def _send(alert: Alert, transition: dict, receiver: Target) -> dict:
    """Send the transition to one receiver; the record of the attempt (``status`` when it took
    it, else ``error``). Any exception is this receiver's failure, not the evaluation's."""
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
    record = {"at": timezone.now().isoformat(), "to": receiver.name, "state": notice.state}
    # The send may write to the database (Teams stores the refresh token Microsoft rotated),
    # in a savepoint: a database error rolls back to before the send (``Atomic`` also clears the
    # connection's broken state), leaving usable the transaction that records the outcome under
    # the alert's lock; any other failure is caught inside it, so what the send wrote stays.
    failure: Exception | None = None
    try:
        with transaction.atomic():
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
            except DatabaseError:
                raise
            except Exception as exc:  # this receiver's failure, whatever it is
                failure = exc
    except DatabaseError as exc:
        failure = exc
    if failure is not None:
        record.pop("status", None)
        # Kept for the admin: an adapter's error may quote a credential or a secret URL.
        record["error"] = redacted_text(
            failure_text(failure, (AdapterError, SecretUnavailable, NotImplementedError))
        )
        logger.warning("alert %s to %s not sent: %s", notice.key, receiver.name, record["error"])
    return record
