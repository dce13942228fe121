"""What retention keeps past its cut-off (``adapters.privacy.retention``): the statements the
fan-out still needs (``still_needed``) and, deleting, those whose retraction is dead
(``dead_retractions``)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from adapters.base import RETRACT
from adapters.models import Delivery, OutboxBatch, SkillEvidence, deliveries_locked
from lrs.statements.models import Statement

# Deliveries that still need their statement: waiting, being sent, held for an identity, or
# waiting for an admin to say whether an attempt took effect.
OPEN = (Delivery.PENDING, Delivery.RETRYING, Delivery.IN_FLIGHT, Delivery.HELD, Delivery.UNKNOWN)


def still_needed(pks: list[int]) -> set[int]:
    """Which of these statements the fan-out still needs. Their deliveries stay locked until the
    batch commits, so a worker cannot claim one between this check and the delete (it then finds
    the row gone). Outbox batches are read first: one expanded in between has its deliveries
    committed by the time they are read. Then the statements are locked, skipping (keeping) those
    a void holds: its retraction waits for the deliveries locked here, so waiting for it would
    deadlock. What keeps one is read last, under both locks: an open delivery, or marketplace
    evidence an erasure not finished has flagged erased (it finds the records of the erased member
    to forget by that evidence when it finishes, and then deletes or pseudonymises them itself).
    An erasure locks these deliveries before it flags or writes anything (``erasure.erase_subject``,
    and its finish, ``erasure._finish``), so it either waits for this batch or is committed before
    these reads: its retractions, new rows, are not among the rows locked above, but are read here.
    """
    wanted = set(pks)
    needed: set[int] = set()
    for batch_pks in OutboxBatch.objects.filter(
        id__lte=max(pks), last_statement_pk__gte=min(pks)
    ).values_list("statement_pks", flat=True):
        needed |= wanted.intersection(batch_pks)
    deliveries_locked(Delivery.objects.filter(statement_id__in=pks))
    free = Statement.objects.select_for_update(skip_locked=True).filter(id__in=pks).order_by("id")
    held = wanted - set(free.values_list("id", flat=True))  # (or gone: another run deleted it)
    # Read under those locks, each query seeing what committed before it: a lock waited for was
    # an erasure's (``erasure.erase_subject`` locks these deliveries first), and the retractions
    # it wrote are rows the locking query began too early to return.
    needed |= set(
        Delivery.objects.filter(statement_id__in=pks, status__in=OPEN).values_list("statement_id", flat=True)
    )
    erasing = SkillEvidence.objects.filter(statement_id__in=pks, erased_at__isnull=False)
    needed |= set(erasing.values_list("statement_id", flat=True))
    return needed | set(Statement.objects.filter(id__in=held).values_list("id", flat=True))


def dead_retractions(pks: list[int]) -> set[int]:
    """Which of these statements have a dead retraction (of a void, or of an erasure): the target
    still holds the effect of a voided statement, and only that delivery, resent once an operator
    has seen to it (``deliveries_replay``), can remove it: it reads the statement and
    the delivery it undoes. Deleted with them, the target would keep the effect for good, and
    reconciliation, finding the statement aged out, would no longer judge it. So a delete keeps
    them, as an open delivery's. A dead *original* delivery keeps nothing: the target never took
    the effect, and the statement aged out. (A pseudonymising run keeps every statement and its
    deliveries, so a resent retraction finds them: README "Retention".) Read under the locks
    ``still_needed`` took on these statements' deliveries."""
    dead = Delivery.objects.filter(statement_id__in=pks, kind=RETRACT, status=Delivery.DEAD)
    return set(dead.values_list("statement_id", flat=True))


def has_dead_retraction() -> Exists:
    """``dead_retractions`` as a condition on a statement query (the dry run's)."""
    return Exists(Delivery.objects.filter(statement_id=OuterRef("id"), kind=RETRACT, status=Delivery.DEAD))
