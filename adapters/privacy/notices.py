"""Telling targets a person was erased (``on_erasure: notify``): one message per erasure request
and target, through the adapter's ``erasure_requests`` and ``send`` (the one HTTP seam), with the
request's key as idempotency key, so a retry is applied once. A target that did not take it yet
is tried again by ``finish_erasures`` (every minute) until it does, or until a permanent refusal
or ``LRS_ERASURE_NOTICE_ATTEMPTS`` attempts (recorded as given up); only then does the request
drop what the message carries (the employee id or the pseudonyms)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from adapters.base import RETRACT, AdapterError, DeliveryContext, ErasureNotice
from adapters.models import Delivery, ErasureRequest, Target
from adapters.outbound import failure_text
from adapters.redaction import redacted_text
from adapters.registry import adapter_for
from adapters.secrets import SecretUnavailable

logger = logging.getLogger(__name__)


def unsent(request: ErasureRequest) -> list[str]:
    return [name for name, entry in request.targets.items() if "notice" in entry]


def retraction_first(request: ErasureRequest, pks: list[int], target_names: list[str]) -> set[str]:
    """The targets owed a notice where a retraction of the person's statement (voided before the
    erasure) is still to be made: it names them, so it goes before that target's notice, not
    after (another target's notice need not wait for it). One stuck (dead, held, unknown) does
    not hold the notice back: it is an admin's to settle."""
    if not pks:
        return set()
    targets = {name: target for name in target_names if (target := target_of(request, name)) is not None}
    to_make = [Delivery.PENDING, Delivery.RETRYING, Delivery.IN_FLIGHT]
    rows = Delivery.objects.filter(
        statement_id__in=pks, kind=RETRACT, status__in=to_make, target_id__in=[t.id for t in targets.values()]
    )
    waiting = set(rows.values_list("target_id", flat=True))
    return {name for name, target in targets.items() if target.id in waiting}


def target_of(request: ErasureRequest, name: str) -> Target | None:
    """The target a request's entry is about: by the id recorded with it, so an admin renaming
    the target meanwhile does not lose its notice (by name for requests recorded before ids)."""
    entry = request.targets[name]
    if "target_id" in entry:
        return Target.objects.filter(id=entry["target_id"]).first()
    return Target.objects.filter(name=name).first()


def notify(request: ErasureRequest, waiting: set[str] | frozenset[str] = frozenset()) -> int:
    """Send the request's unsent notices but to the ``waiting`` targets; how many took theirs now."""
    took = 0
    for name in unsent(request):
        if name in waiting:
            continue
        entry = request.targets[name]
        target = target_of(request, name)
        if target is None or not target.enabled:
            entry.pop("notice")
            entry["notified"] = "target removed or disabled"
            continue
        notice = ErasureNotice(
            key=f"erasure-{request.pk}",
            target_name=target.name,
            employee_id=entry["notice"]["employee_id"],
            pseudonyms=tuple(entry["notice"]["pseudonyms"]),
            erased_at=request.requested_at.isoformat(),
        )
        entry["attempts"] = entry.get("attempts", 0) + 1
        context = DeliveryContext(
            target_name=target.name, kind="erasure", idempotency_key=notice.key, attempt=entry["attempts"]
        )
        try:
            with transaction.atomic():  # a database error here leaves the erasure's transaction usable
                adapter = adapter_for(target.adapter, target.config)
                for outbound in adapter.erasure_requests(notice):
                    adapter.send(outbound, context)
        except Exception as exc:  # this target's failure, not the other targets' or the erasure's
            # Kept for the admin: an adapter's error may quote a credential or a secret URL.
            entry["last_error"] = redacted_text(failure_text(exc, (AdapterError, SecretUnavailable)))[:500]
            logger.warning("erasure notice %s to %s not sent: %s", notice.key, name, entry["last_error"])
            if entry["attempts"] >= settings.LRS_ERASURE_NOTICE_ATTEMPTS or getattr(exc, "permanent", False):
                # Given up (recorded): the erasure must not wait, holding the employee id, for ever.
                entry.pop("notice")
                entry["notified"] = f"gave up after {entry['attempts']} attempts"
            continue
        entry.pop("notice")
        entry.pop("last_error", None)
        entry["notified"] = timezone.now().isoformat()
        took += 1
    request.save(update_fields=["targets"])
    return took
