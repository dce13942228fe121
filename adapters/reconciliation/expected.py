"""What a target should hold for a window of stored time: the live statements its filter takes,
read one page at a time through the statement query layer, each with what the target should
hold for it (read-back adapters), whether our deliveries say it was delivered, or why it is
legitimately held back (the adapter's ``resolve`` holds it: an unmapped learner; or its delivery
was cancelled on purpose). And, for a target that cannot be read back, the voided statements our
own deliveries say it still holds: made, and their retraction never landed. And what retention
aged out (``AgedOut``): statements stored before its latest cut-off, and records at the target of
statements it deleted, which reconciliation does not judge (README "Retention")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Q

from adapters.base import DELIVER, RETRACT, Adapter, DeliveryContext, DeliveryHeld, NothingToSend
from adapters.delivery.outbox import idempotency_key, stored_again
from adapters.delivery.replay import pages_taken
from adapters.models import Delivery, RetentionRun, Target
from lrs.statements.selectors import StatementQuery


@dataclass(frozen=True)
class Expected:
    key: str  # the statement id
    day: date  # of its stored time, UTC
    statement_pk: int
    content: dict[str, Any] | None = None  # what the target should hold (read-back adapters)
    held: str = ""  # why it is legitimately not at the target; "" when it should be
    delivery_id: int | None = None
    delivered: bool = False
    first_try: bool = False


@dataclass(frozen=True)
class AgedOut:
    """What retention may have changed or removed, which reconciliation does not judge: retention
    ages data out of the LRS, not out of the targets, and sends nothing (README "Retention"), so
    a target keeps what it got of those statements. ``cutoff``: the latest statements cut-off of
    any retention run (one still running, or that failed part way, may have gone up to it too):
    statements stored before it are neither expected nor compared (but a voided one the LRS still
    holds: it owes the target nothing, so what the target holds of it is extra). ``deleted``: a
    ``delete``-mode run has removed statements; a record at the target of a statement the LRS does
    not hold is then taken for one of those (the LRS keeps nothing of their ids to tell them from a record of
    one it never had), unless a delete-mode erasure removed that id: its record is owed a
    retraction, and stays extra."""

    cutoff: datetime | None = None
    deleted: bool = False

    @classmethod
    def now(cls) -> AgedOut:
        cutoffs = [
            (datetime.fromisoformat(cuts["statements"]), mode)
            for mode, cuts in RetentionRun.objects.values_list("mode", "cutoffs")
            if (cuts or {}).get("statements")
        ]
        if not cutoffs:
            return cls()
        return cls(max(cut for cut, _mode in cutoffs), any(mode == "delete" for _cut, mode in cutoffs))

    def judged_since(self, since: datetime) -> datetime:
        """The start of the window reconciliation judges: ``since < stored``, and not aged out
        (retention takes ``stored < cutoff``)."""
        if self.cutoff is None:
            return since
        return max(since, self.cutoff - timedelta(microseconds=1))

    def unknown_aged_out(self, keys: list[str]) -> set[str]:
        """Which of these ids of statements the LRS does not hold were aged out by retention."""
        if not self.deleted:
            return set()
        erased = stored_again((key, key.lower()) for key in keys)
        return {key for key in keys if key not in erased}


def stored_day(value: str | datetime) -> date:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).date()


def expected_records(
    target: Target,
    adapter: Adapter,
    since: datetime,
    until: datetime,
    *,
    page_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Expected]:
    """``progress``: called after each page with the number of statements it read (those the
    filter does not take included, so the calls add up to the statements of the window)."""
    query = StatementQuery(since=since, until=until, ascending=True, limit=page_size)
    for taken, read, _more_after in pages_taken(target, query):
        deliveries = {
            statement_pk: (delivery_id, status, attempts, last_error)
            for statement_pk, delivery_id, status, attempts, last_error in Delivery.objects.filter(
                target=target, kind=DELIVER, statement_id__in=[pk for pk, _ in taken]
            ).values_list("statement_id", "id", "status", "attempts", "last_error")
        }
        again = stored_again((pk, statement["id"]) for pk, statement in taken)
        with adapter.prefetch([statement for _, statement in taken]):
            for pk, statement in taken:
                yield _expected(target, adapter, pk, statement, deliveries.get(pk), again.get(pk))
        if progress is not None:
            progress(read)


def _expected(
    target: Target,
    adapter: Adapter,
    pk: int,
    statement: dict,
    delivery: tuple[int, str, int, str] | None,
    stored_again: int | None,
) -> Expected:
    key = statement["id"]
    context = DeliveryContext(
        target_name=target.name,
        kind=DELIVER,
        idempotency_key=idempotency_key(key, target.name, DELIVER, stored_again),
        target_id=target.id,
        statement_pk=pk,
        include_terminated=bool(target.config.get("include_terminated")),
    )
    delivery_id, status, attempts, last_error = delivery or (None, "", 0, "")
    delivered = status == Delivery.DELIVERED
    facts = {
        "key": key,
        "day": stored_day(statement["stored"]),
        "statement_pk": pk,
        "delivery_id": delivery_id,
        "delivered": delivered,
        "first_try": delivered and attempts == 1,
    }
    if status == Delivery.CANCELLED:  # stopped on purpose (an admin, a disabled target)
        return Expected(**facts, held=f"delivery cancelled: {last_error or 'by admin'}")
    try:
        resolved = adapter.resolve(statement, context)
    except DeliveryHeld as held:
        return Expected(**facts, held=held.reason)
    except NothingToSend as nothing:  # its right effect is none (a pseudonym after an erasure)
        return Expected(**facts, held=f"nothing to send: {nothing}")
    content = (
        adapter.expected_record(statement, replace(context, resolved=resolved))
        if adapter.can_read_back
        else None
    )
    return Expected(**facts, content=content)


def unretracted(target: Target, since: datetime, until: datetime) -> Iterator[tuple[str, int]]:
    """Statements stored in the window and voided since, whose delivery to the target was made
    (or may have been) and whose retraction has not landed. What a
    target that cannot be read back still holds beyond what it should (its retraction, or a
    retraction event, is owed); a target that never retracts (chat) is not asked. ``(statement
    id, pk)``."""
    # Retracted, or its retraction cancelled on purpose (an admin, an erasure): not owed, as a
    # cancelled delivery is not expected (``_expected``).
    retracted = Delivery.objects.filter(
        target=target, kind=RETRACT, status__in=[Delivery.DELIVERED, Delivery.CANCELLED]
    )
    made = (
        Delivery.objects.filter(
            target=target,
            kind=DELIVER,
            statement__voided=True,
            statement__stored__gt=since,
            statement__stored__lte=until,
        )
        .filter(Q(status=Delivery.DELIVERED) | Q(maybe_applied=True))
        .exclude(statement_id__in=retracted.values("statement_id"))
        .order_by("statement_id")
    )
    for statement_uuid, pk in made.values_list("statement_uuid", "statement_id"):
        yield str(statement_uuid), pk
