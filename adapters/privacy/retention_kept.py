"""What retention keeps past its cut-off (``adapters.privacy.retention``): the statements the
fan-out still needs (``still_needed``)."""

from __future__ import annotations

from adapters.models import Delivery, OutboxBatch
from lrs.statements.models import Statement

# Deliveries that still need their statement: waiting, being sent, held for an identity, or
# waiting for an admin to say whether an attempt took effect.
OPEN = (Delivery.PENDING, Delivery.RETRYING, Delivery.IN_FLIGHT, Delivery.HELD, Delivery.UNKNOWN)


def still_needed(pks: list[int]) -> set[int]:
    """Which of these statements the fan-out still needs. Their deliveries stay locked until the
    batch commits, so a worker cannot claim one between this check and the delete (it then finds
    the row gone). Outbox batches are read first: one expanded in between has its deliveries
    committed by the time they are read. Then the statements, skipping (keeping) those a void holds:
    its retraction waits for the deliveries locked here, so waiting for it would deadlock."""
    wanted = set(pks)
    needed: set[int] = set()
    for batch_pks in OutboxBatch.objects.filter(
        id__lte=max(pks), last_statement_pk__gte=min(pks)
    ).values_list("statement_pks", flat=True):
        needed |= wanted.intersection(batch_pks)
    deliveries = Delivery.objects.select_for_update().filter(statement_id__in=pks).order_by("id")
    needed |= {pk for pk, status in deliveries.values_list("statement_id", "status") if status in OPEN}
    free = Statement.objects.select_for_update(skip_locked=True).filter(id__in=pks).order_by("id")
    held = wanted - set(free.values_list("id", flat=True))  # (or gone: another run deleted it)
    return needed | set(Statement.objects.filter(id__in=held).values_list("id", flat=True))
