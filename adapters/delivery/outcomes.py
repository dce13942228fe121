"""What came of claimed deliveries, written back in bulk: one INSERT of attempts and one UPDATE of deliveries
per batch, not several round trips per delivery (pretix ``api/webhooks.py`` records every attempt; we
record them together). An ``Outcome`` is built for each claimed delivery from what its adapter did
(``from_result``, ``from_error``...) and ``persist`` writes the batch: the attempt rows, the deliveries'
new state, the target's breaker, and the wake-ups for retries.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from adapters.base import AdapterError, DeliveryHeld, OutboundRequest
from adapters.delivery import arrays, pacing, queue
from adapters.delivery.arrays import EXCERPT_CHARS, request_summary
from adapters.models import Attempt, Delivery, IdentityChange, Target, holds_overtaken_by
from adapters.ops import instruments
from adapters.redaction import redacted_text
from adapters.rules.keys import IDENTITY_LOCK_KEY
from adapters.rules.retry import RetryPolicy, decide
from lrs.statements.bulk import insert_tuples

logger = logging.getLogger(__name__)

# A retraction whose original is still being sent waits this long before looking again.
DEPENDENCY_WAIT_SECONDS = 5
# A delivery whose state at the target another delivery is changing waits this long.
BUSY_WAIT_SECONDS = 1


def retry_policy(target: Target) -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.LRS_RETRY_BASE_SECONDS,
        cap_seconds=settings.LRS_RETRY_CAP_SECONDS,
        max_age_seconds=settings.LRS_RETRY_MAX_AGE_SECONDS,
        max_attempts=target.max_attempts,
    )


@dataclass
class Outcome:
    """The new state of one claimed delivery. ``attempt``: the outcome of the attempt row to
    record (None: nothing was tried, e.g. a release or a cancel before sending, which then does
    not count as an attempt)."""

    delivery: Delivery
    status: str
    attempt: str | None = None
    error: str = ""
    status_code: int | None = None
    excerpt: str = ""
    external_id: str = ""
    next_attempt_at: datetime | None = None
    held_key: str = ""
    maybe_applied: bool = False
    failure: AdapterError | None = None
    started: datetime = field(default_factory=timezone.now)
    finished: datetime | None = None
    # The statement's ``stored`` time, when known (``batch.run`` sets it): the delivery lag.
    stored: datetime | None = None
    # The requests sent (``batch`` sets them): summarised, redacted, with a failed attempt only.
    requests: list[OutboundRequest] | None = None
    identity_seen: int | None = None  # held: ``last_identity_change()`` before it was resolved

    @property
    def counted(self) -> bool:
        return self.attempt is not None and self.attempt != Attempt.HELD


def delivered(
    delivery: Delivery, *, status_code: int | None, excerpt: str, external_id: str, started
) -> Outcome:
    return Outcome(
        delivery,
        Delivery.DELIVERED,
        Attempt.SUCCESS,
        status_code=status_code,
        excerpt=excerpt,
        external_id=external_id,
        started=started,
        finished=timezone.now(),
    )


def cancelled(delivery: Delivery, reason: str) -> Outcome:
    """Closed before anything was sent (a void, a disabled target, an original never made)."""
    return Outcome(delivery, Delivery.CANCELLED, error=reason)


def released(delivery: Delivery, *, at: datetime, reason: str) -> Outcome:
    """Put back without counting an attempt (paused, rate-limited, waiting for another delivery)."""
    return Outcome(delivery, Delivery.RETRYING, error=reason, next_attempt_at=at)


def held(delivery: Delivery, reason: DeliveryHeld, started) -> Outcome:
    """Parked until its key resolves (not a failed attempt); cancelled if it never can (``final``)."""
    if getattr(reason, "final", False):
        return cancelled(delivery, str(reason))
    return Outcome(
        delivery,
        Delivery.HELD,
        Attempt.HELD,
        error=str(reason),
        held_key=reason.key,
        started=started,
        finished=timezone.now(),
    )


def _holds_overtaken(outcomes: list[Outcome], now: datetime) -> list[Outcome]:
    """Held outcomes resolved before an identity change committed since that may resolve them run again
    instead (held again if still unresolved): its release passed them by in flight. An address's hold, by
    a change naming it or a SHA-1 link; a SHA-1's, by any; one for want of an address, by an address
    linked (``models.identity.holds_overtaken_by``: a stream of other changes re-runs none). Under
    ``IDENTITY_LOCK_KEY`` shared until the holds commit (the ordering argument is ``hold_identity_lock``'s,
    in identity.links); while an identity write holds the lock (an HRIS import may take minutes) they run
    again a little later instead of waiting for it."""
    held = [o for o in outcomes if o.status == Delivery.HELD and o.identity_seen is not None]
    if not held:
        return outcomes
    free = True
    if connection.vendor == "postgresql":  # SQLite runs one writing transaction at a time
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock_shared(%s)", [IDENTITY_LOCK_KEY])
            free = cursor.fetchone()[0]
    if free:
        overtaken = holds_overtaken_by(min(o.identity_seen or 0 for o in held))
        late, at = {id(o) for o in held if overtaken(o.identity_seen or 0, o.held_key, o.error)}, now
        why = "its learner's identity changed while it was resolved: resolved again"
    else:
        late, at = {id(o) for o in held}, now + timedelta(seconds=DEPENDENCY_WAIT_SECONDS)
        why = "an identity change was being written while it was resolved: resolved again"
    return [released(o.delivery, at=at, reason=why) if id(o) in late else o for o in outcomes]


def last_identity_change() -> int:
    """The last ``IdentityChange`` id committed (0: none): read before a batch resolves its learners."""
    return IdentityChange.objects.order_by("-id").values_list("id", flat=True).first() or 0


def failed(
    delivery: Delivery,
    error: AdapterError,
    started,
    policy: RetryPolicy,
    *,
    may_resend_unknown: bool,
    shared: bool = False,
) -> Outcome:
    """A failed attempt: retried later, given up (dead letter), or, when it may have taken effect
    and the target offers no way to look, parked as outcome unknown for an admin. ``shared``: the
    answer was to an array of several deliveries, so it may be about another one of them, and the
    last of the delivery's attempts is one it makes alone (``arrays``)."""
    now = timezone.now()
    common = {
        "status_code": error.status_code,
        "excerpt": error.response_body,
        "maybe_applied": error.ambiguous,
        "failure": error,
        "started": started,
        "finished": now,
    }
    if error.ambiguous and (not may_resend_unknown or error.unlookable):
        reason = f"outcome unknown: {error.message}; mark it delivered or send it again"
        return Outcome(delivery, Delivery.UNKNOWN, Attempt.UNKNOWN, error=reason, **common)
    decision = decide(
        attempt=delivery.attempts,
        age_seconds=(started - delivery.created_at).total_seconds(),
        permanent=error.permanent,
        retry_after=error.retry_after,
        policy=arrays.policy_for_shared_failure(policy, delivery.attempts) if shared else policy,
        throttled=error.throttled,
    )
    if decision.retry:
        at = now + timedelta(seconds=decision.delay_seconds)
        return Outcome(
            delivery, Delivery.RETRYING, Attempt.RETRY, error=error.message, next_attempt_at=at, **common
        )
    return Outcome(
        delivery, Delivery.DEAD, Attempt.DEAD, error=f"{error.message} ({decision.reason})", **common
    )


_FIELDS = [
    "status",
    "claimed_until",
    "attempts",
    "last_error",
    "last_status_code",
    "delivered_at",
    "next_attempt_at",
    "held_key",
    "external_id",
    "maybe_applied",
    "updated_at",
]


ATTEMPT_COLUMNS = (
    "delivery_id", "number", "started_at", "duration_ms", "status_code", "outcome", "error",
    "response_excerpt", "request", "maybe_applied",
)  # fmt: skip


def persist(target: Target, outcomes: list[Outcome]) -> None:
    """Write a batch of outcomes: attempt rows, the deliveries' state, the target's breaker, and
    wake-ups for the retries. The deliveries are claimed by this worker, so their state is ours to
    set (voiding and admin actions leave in-flight deliveries alone)."""
    if not outcomes:
        return
    now = timezone.now()
    claims = {outcome.delivery.id: outcome.delivery.claimed_until for outcome in outcomes}
    # One commit for all that came of the batch, and nothing of it if any of it fails: the
    # deliveries then stay claimed and run again when the claim runs out.
    with transaction.atomic():
        outcomes = _holds_overtaken(outcomes, now)
        attempts = []
        for outcome in outcomes:
            delivery = outcome.delivery
            if not outcome.counted:
                delivery.attempts -= 1  # the claim counted one; this was not an attempt
            if outcome.attempt is not None:
                attempts.append(
                    (
                        delivery.id,
                        max(delivery.attempts, 1) if outcome.attempt == Attempt.HELD else delivery.attempts,
                        outcome.started,
                        # Not below zero: a clock stepped back between start and finish.
                        max(0, int(((outcome.finished or now) - outcome.started).total_seconds() * 1000)),
                        outcome.status_code,
                        outcome.attempt,
                        # Redacted before cut, so no secret is left half shown at the cut.
                        _storable(outcome.error)[:EXCERPT_CHARS],
                        _storable(outcome.excerpt or "")[:EXCERPT_CHARS],
                        # Failures only: a success keeps the hot path and the table lean.
                        _storable(request_summary(outcome.requests))
                        if outcome.requests and outcome.attempt != Attempt.SUCCESS
                        else "",
                        outcome.maybe_applied,  # where a retry looks (``Delivery.maybe_applied_between``)
                    )
                )
            delivery.status = outcome.status
            delivery.claimed_until = None
            delivery.last_error = _storable(outcome.error)
            delivery.last_status_code = outcome.status_code
            delivery.delivered_at = now if outcome.status == Delivery.DELIVERED else None
            if outcome.next_attempt_at is not None:
                delivery.next_attempt_at = outcome.next_attempt_at
            delivery.held_key = outcome.held_key
            if outcome.external_id:
                delivery.external_id = outcome.external_id
            delivery.maybe_applied = delivery.maybe_applied or outcome.maybe_applied
            delivery.updated_at = now
        kept = _write([outcome.delivery for outcome in outcomes], claims)
        # Plain tuples, one COPY (``insert_tuples``): model instances and the ORM's INSERT of a
        # batch's attempts cost about a tenth of a drained batch's CPU.
        insert_tuples(Attempt, ATTEMPT_COLUMNS, [row for row in attempts if row[0] in kept])
    if len(kept) < len(outcomes):
        instruments.count_dropped(target.name, len(outcomes) - len(kept))
        logger.warning(
            "%d outcomes for %s dropped: their claim ran out and the deliveries were put back "
            "(they run again under the same idempotency keys)",
            len(outcomes) - len(kept),
            target.name,
        )
        outcomes = [outcome for outcome in outcomes if outcome.delivery.id in kept]
    _pace(target, outcomes)
    for outcome in outcomes:
        _log(target, outcome)
    instruments.count_results(target.name, [_result(outcome, now) for outcome in outcomes])
    _summary(target, outcomes)
    retries = [o.next_attempt_at for o in outcomes if o.status == Delivery.RETRYING and o.next_attempt_at]
    if retries:
        queue.request_drain(target.id, at=min(retries), after_commit=False)


def _storable(text: str) -> str:
    """Text PostgreSQL takes: without U+0000, which a target's answer may hold (a text column
    refuses it, and the batch's whole outcome, rolled back, would be sent again and again)."""
    text = redacted_text(text)  # a target's answer or an error may name a secret (adapters.redaction)
    return text.replace("\x00", "") if "\x00" in text else text


_COLUMN_TYPES = {
    "status": "text",
    "attempts": "integer",
    "last_error": "text",
    "last_status_code": "integer",
    "delivered_at": "timestamptz",
    "next_attempt_at": "timestamptz",
    "held_key": "text",
    "external_id": "text",
    "maybe_applied": "boolean",
    "updated_at": "timestamptz",
}


def _write(deliveries: list[Delivery], claims: dict[int, datetime | None]) -> set[int]:
    """The deliveries' new state in ONE statement on PostgreSQL (an UPDATE from a JSON record
    set: Django's ``bulk_update`` builds a CASE per column and row, which cost 1.5 s of Python per
    batch of 200); the ids written.

    Only those still in flight under the claim that ran them (``claims``): once a claim has run
    out, the sweep puts its deliveries back and others act on them (another worker, an admin's
    cancel, an erasure blanking what they recorded). A stalled worker's late outcome is then
    dropped, as a killed worker's is never written (the lease's fencing token, Kleppmann,
    "How to do distributed locking")."""
    if connection.vendor != "postgresql":
        still = Delivery.objects.filter(id__in=list(claims), status=Delivery.IN_FLIGHT)
        kept = {pk for pk, until in still.values_list("id", "claimed_until") if until == claims[pk]}
        Delivery.objects.bulk_update([d for d in deliveries if d.id in kept], _FIELDS)
        return kept
    rows = [
        {"id": d.id, "claim": claims[d.id], **{column: getattr(d, column) for column in _COLUMN_TYPES}}
        for d in deliveries
    ]
    table = connection.ops.quote_name(Delivery._meta.db_table)
    assignments = ", ".join(f"{column} = v.{column}" for column in _COLUMN_TYPES)
    shape = ", ".join(f"{column} {kind}" for column, kind in _COLUMN_TYPES.items())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS d SET claimed_until = NULL, {assignments} "  # noqa: S608
            f"FROM json_to_recordset(%s::json) AS v(id bigint, claim timestamptz, {shape}) "
            "WHERE d.id = v.id AND d.status = %s AND d.claimed_until IS NOT DISTINCT FROM v.claim "
            "RETURNING d.id",
            [orjson.dumps(rows).decode(), Delivery.IN_FLIGHT],
        )
        return {row[0] for row in cursor.fetchall()}


def _summary(target: Target, outcomes: list[Outcome]) -> None:
    counts = sorted(Counter(outcome.status for outcome in outcomes).items())
    said = ", ".join(f"{count} {status}" for status, count in counts)
    logger.info("%d deliveries to %s: %s", len(outcomes), target.name, said)


def _pace(target: Target, outcomes: list[Outcome]) -> None:
    """The breaker sees the batch: any success closes it; otherwise the failures count."""
    if any(outcome.status == Delivery.DELIVERED and outcome.status_code is not None for outcome in outcomes):
        if pacing.record_success(target):
            # The breaker closed: what backed off while the target was down is due again now.
            now = timezone.now()
            Delivery.objects.filter(target=target, status=Delivery.RETRYING, next_attempt_at__gt=now).update(
                next_attempt_at=now
            )
        return
    # A rate limit of one kind of request (``AdapterError.throttled``) is no failure of the target.
    failures = [o.failure for o in outcomes if o.failure is not None and not o.failure.throttled]
    if not failures:
        return
    gone = next((failure for failure in failures if failure.disable_target), None)
    retry_after = max((failure.retry_after or 0.0 for failure in failures), default=0.0)
    pacing.record_failure(
        target,
        disable=gone is not None,
        reason=(gone or failures[-1]).message,
        # The deliveries one request carried (a batched target) share its error: one failure.
        failures=len({id(failure) for failure in failures}),
        retry_after=retry_after or None,
    )


def _result(outcome: Outcome, now: datetime) -> tuple[str, str, str | None, float | None]:
    """What ``instruments.count_results`` counts of a run delivery."""
    lag = None
    if outcome.status == Delivery.DELIVERED and outcome.stored is not None:
        lag = (now - outcome.stored).total_seconds()
    return outcome.delivery.kind, outcome.status, outcome.attempt, lag


def _log(target: Target, outcome: Outcome) -> None:
    """One line per delivery run; in JSON logs (``LOG_FORMAT=json``) its fields are keys."""
    delivery = outcome.delivery
    key = delivery.idempotency_key
    fields = {
        "target": target.name,
        "delivery_id": delivery.id,
        "attempt": delivery.attempts,
        "outcome": outcome.attempt or outcome.status,
        "request_id": delivery.correlation_id or None,  # the statement request's X-Request-ID
    }
    if outcome.status == Delivery.DELIVERED:
        if logger.isEnabledFor(logging.DEBUG):  # the hot path: a thousand a second
            logger.debug("delivered %s to %s (attempt %d)", key, target.name, delivery.attempts, extra=fields)
    elif outcome.failure is not None:
        failed_as = (key, target.name, delivery.attempts, outcome.error)
        logger.warning("delivery %s to %s failed (attempt %d): %s", *failed_as, extra=fields)
    elif outcome.status == Delivery.HELD:
        logger.info("delivery %s held: %s", key, outcome.error, extra=fields)
    elif outcome.status == Delivery.CANCELLED:
        logger.info("delivery %s cancelled: %s", key, outcome.error, extra=fields)
    elif outcome.status == Delivery.RETRYING and outcome.attempt is None:
        logger.info("delivery %s waits: %s", key, outcome.error, extra=fields)
