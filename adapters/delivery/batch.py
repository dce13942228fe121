"""Running a batch of claimed deliveries of one target: read their statements in one query, check
each is still live and its original made (retractions), prepare the requests in this thread (the
step that may read the database), send them concurrently over keep-alive connections, and turn
what happened into outcomes (``adapters.delivery.outcomes``), written back in bulk.

Sending threads do HTTP only: a worker process keeps one pool of them (``LRS_SEND_THREADS``), a
target's batch uses at most its share of ``Target.concurrency`` (``pacing.sends_per_drain``) at
once, each send started in its slot of the target's rate limit, booked when it is ready (``pacing.per_send``).
Adapters that keep state while they send (``Adapter.sequential``: the marketplace) run their
deliveries whole, one after another, each in its slot too, renewing the batch's claim as they go
(``claims.renew``). A target that takes arrays
(``Adapter.items_per_request`` above 1: the webhook's ``batch_size``) gets up to that many
deliveries per request (``Adapter.send_together``), each request in one slot; what came back is
the outcome of every delivery it carried (``arrays``: grouping, and splitting a refused array).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from adapters import correlation
from adapters.base import (
    DELIVER,
    REPAIR_KEY_MARKER,
    Adapter,
    AdapterError,
    DeliveryBusy,
    DeliveryContext,
    DeliveryHeld,
    NothingToSend,
    Prepared,
    SendResult,
    StatementGone,
)
from adapters.delivery import arrays, outcomes, pacing
from adapters.delivery.outcomes import Outcome
from adapters.delivery.pacing import UNPACED, Schedule, ahead, claims
from adapters.delivery.pacing.lanes import Lanes
from adapters.models import Delivery, Target
from adapters.registry import adapter_for
from adapters.rules.retry import RetryPolicy
from adapters.secrets import SecretUnavailable
from lrs.statements.selectors import statements_keyed_by_pk, voided_by

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _sending_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.LRS_SEND_THREADS, thread_name_prefix="lrs-send")
        return _pool


def _forget_pool() -> None:  # a forked worker process starts its own pool
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


@dataclass
class Timing:
    """Where a batch's time went: ``sending``, the seconds its concurrent sends were out (waiting
    on the target, which costs this host nothing: ``pacing.ingest_first`` leaves it out)."""

    sending: float = 0.0


def run(
    target: Target,
    deliveries: list[Delivery],
    policy: RetryPolicy | None = None,
    schedule: Schedule = UNPACED,
    timing: Timing | None = None,
) -> list[Outcome]:
    """What came of these claimed deliveries (not yet written: ``outcomes.persist`` does).
    ``schedule``: the send slots booked for them under the target's rate limit; ``timing``, if
    given, gets the time spent sending."""
    policy = policy or outcomes.retry_policy(target)
    if not target.enabled:
        reason = f"target disabled: {target.disabled_reason or 'by admin'}"
        return [outcomes.cancelled(delivery, reason) for delivery in deliveries]
    try:
        adapter = adapter_for(target.adapter, target.config)
    except SecretUnavailable as exc:
        now = timezone.now()
        return [
            outcomes.failed(d, AdapterError(str(exc)), now, policy, may_resend_unknown=True)
            for d in deliveries
        ]
    # Apart: a retraction reads its statement voided or not, a delivery only live (a voided
    # statement's delivery claimed with its retraction must not find the statement read for that).
    live = statements_keyed_by_pk([d.statement_id for d in deliveries if d.kind == DELIVER], live_only=True)
    anyway = statements_keyed_by_pk([d.statement_id for d in deliveries if d.kind != DELIVER])
    settled: list[Outcome] = []
    ready: list[tuple[Delivery, dict]] = []
    voided = voided_by(d.statement_id for d in deliveries if d.kind == DELIVER and d.statement_id not in live)
    for delivery in deliveries:
        statement = (live if delivery.kind == DELIVER else anyway).get(delivery.statement_id)
        if statement is None:
            settled.append(
                outcomes.cancelled(delivery, _not_live(delivery, voided.get(delivery.statement_id)))
            )
            continue
        waiting = _dependency(delivery, adapter)
        if waiting is not None:
            settled.append(waiting)
        elif delivery.maybe_applied and not adapter.may_resend_unknown_outcome():
            # An earlier attempt may have taken effect (its worker died mid-send) and the target
            # offers no way to look: never sent again blindly.
            error = AdapterError(
                "an earlier attempt may have reached the target (its worker stopped)", ambiguous=True
            )
            settled.append(outcomes.failed(delivery, error, timezone.now(), policy, may_resend_unknown=False))
        else:
            ready.append((delivery, statement))
    # Before any learner is resolved (``outcomes._holds_overtaken``); not for a target that never holds.
    seen = outcomes.last_identity_change() if adapter.holds_until_linked else None
    with adapter.prefetch([statement for _, statement in ready]):
        if adapter.sequential:
            done = []
            room, began = claims.send_seconds(target, adapter), timezone.now()
            for delivery, statement in ready:
                # All of the batch, sent or not: every outcome is written at its end.
                claims.renew(deliveries, room, began=began)
                if claims.turn(schedule, delivery.claimed_until, room):
                    room_for = functools.partial(claims.covers, deliveries, delivery, began=began)
                    done.append(_whole(adapter, target, delivery, statement, policy, room_for))
                else:
                    passed = DeliveryBusy(claims.CLAIM_PASSED)
                    done.append(_prepared_outcome(delivery, passed, timezone.now(), policy, adapter))
        else:
            done = _concurrently(adapter, target, ready, policy, schedule, timing or Timing())
    for outcome in done:  # the delivery lag: from the statement's stored time (deliveries only)
        if outcome.status == Delivery.HELD:
            outcome.identity_seen = seen
        if outcome.delivery.kind == DELIVER:
            outcome.stored = _stored_time(live[outcome.delivery.statement_id])
    return settled + done


def _stored_time(statement: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(statement["stored"])
    except (KeyError, TypeError, ValueError):
        return None


def _not_live(delivery: Delivery, voiding_id: str | None) -> str:
    if voiding_id:
        return f"statement {delivery.statement_uuid} was voided by {voiding_id} before it was sent"
    return f"statement {delivery.statement_uuid} is voided or no longer stored"


def _dependency(delivery: Delivery, adapter: Adapter) -> Outcome | None:
    """A retraction runs strictly after its original: it waits while the original is being made,
    and is dropped when the original was never made (unless it may have taken effect, or the
    adapter recomputes the target's state anyway)."""
    original = delivery.depends_on
    if original is None or not adapter.retraction_needs_original or original.status == Delivery.DELIVERED:
        return None
    if original.status in (Delivery.DEAD, Delivery.CANCELLED):
        if original.maybe_applied:
            return None
        return outcomes.cancelled(delivery, "the original delivery was never made")
    at = timezone.now() + timedelta(seconds=outcomes.DEPENDENCY_WAIT_SECONDS)
    return outcomes.released(delivery, at=at, reason="waiting for the original delivery")


def context_for(target: Target, delivery: Delivery) -> DeliveryContext:
    original = delivery.depends_on
    return DeliveryContext(
        target_name=target.name,
        kind=delivery.kind,
        idempotency_key=delivery.idempotency_key,
        correlation_id=delivery.correlation_id,
        attempt=delivery.attempts,
        original_external_id=original.external_id if original else "",
        original_uncertain=bool(
            original and (original.maybe_applied or REPAIR_KEY_MARKER in original.idempotency_key)
        ),
        maybe_applied=delivery.maybe_applied,
        maybe_applied_between=delivery.maybe_applied_between(),  # a query only when maybe_applied
        external_id=delivery.external_id,
        created_at=delivery.created_at,
        target_id=target.id,
        statement_pk=delivery.statement_id,
        include_terminated=bool(target.config.get("include_terminated")),
    )


def _prepared_outcome(
    delivery: Delivery,
    result: SendResult | BaseException,
    started,
    policy: RetryPolicy,
    adapter: Adapter,
    *,
    shared: bool = False,
) -> Outcome:
    """What became of the delivery; ``shared``: the result was the answer to an array of several."""
    if isinstance(result, SendResult):
        return outcomes.delivered(
            delivery,
            status_code=result.status_code,
            excerpt=result.body or result.note,
            external_id=result.external_id,
            started=started,
        )
    if isinstance(result, StatementGone):
        return outcomes.cancelled(delivery, str(result))
    if isinstance(result, NothingToSend):
        return outcomes.delivered(
            delivery, status_code=None, excerpt=str(result), external_id="", started=started
        )
    if isinstance(result, DeliveryHeld):
        return outcomes.held(delivery, result, started)
    if isinstance(result, DeliveryBusy):
        at = timezone.now() + timedelta(seconds=max(outcomes.BUSY_WAIT_SECONDS, result.retry_after or 0.0))
        return outcomes.released(delivery, at=at, reason=str(result))
    if isinstance(result, SecretUnavailable):
        result = AdapterError(str(result))
    if isinstance(result, AdapterError):
        return outcomes.failed(
            delivery,
            result,
            started,
            policy,
            may_resend_unknown=adapter.may_resend_unknown_outcome(),
            shared=shared,
        )
    raise result


def _whole(
    adapter: Adapter,
    target: Target,
    delivery: Delivery,
    statement: dict,
    policy: RetryPolicy,
    room_for: Callable[[float], bool],
) -> Outcome:
    started = timezone.now()
    context = replace(context_for(target, delivery), room_for=room_for)
    with correlation.bound(delivery.correlation_id):
        try:
            result: SendResult | BaseException = adapter.effect(statement, context)
        except (NothingToSend, DeliveryHeld, DeliveryBusy, AdapterError, SecretUnavailable) as exc:
            result = exc
        except Exception as exc:  # a bug in an adapter: this delivery fails, the batch goes on
            logger.exception("delivery %s failed", delivery.idempotency_key)
            result = AdapterError(f"unexpected error: {type(exc).__name__}: {exc}", ambiguous=True)
    outcome = _prepared_outcome(delivery, result, started, policy, adapter)
    if isinstance(result, AdapterError) and result.request is not None:
        outcome.requests = [result.request]  # summarised only because the attempt failed
    return outcome


def _concurrently(
    adapter: Adapter,
    target: Target,
    ready: list[tuple[Delivery, dict]],
    policy: RetryPolicy,
    schedule: Schedule,
    timing: Timing,
) -> list[Outcome]:
    """Prepare each delivery here (database reads; look-ups at the target made ahead: ``pacing.ahead``),
    then send them on lanes of the sending pool, at most this drain's share of the target's concurrency
    in flight (fewer when it answers fast enough not to need them: ``pacing.lanes.Lanes``), each in
    its booked slot."""
    results: list[Outcome] = []
    sendable: list[tuple[Delivery, datetime, Prepared]] = []
    preparing: list[float] = []  # seconds each sendable delivery's preparation took
    ahead.look_ahead(adapter, target, ready, schedule, _sending_pool())
    for delivery, statement in ready:
        started = timezone.now()
        try:
            with correlation.bound(delivery.correlation_id):
                prepared = adapter.prepare(statement, context_for(target, delivery))
        except (DeliveryHeld, DeliveryBusy, AdapterError, SecretUnavailable) as exc:
            results.append(_prepared_outcome(delivery, exc, started, policy, adapter))
            continue
        except Exception as exc:  # a bug in an adapter: this delivery fails, the batch goes on
            logger.exception("preparing delivery %s failed", delivery.idempotency_key)
            error = AdapterError(f"unexpected error: {type(exc).__name__}: {exc}")
            results.append(_prepared_outcome(delivery, error, started, policy, adapter))
            continue
        sendable.append((delivery, started, prepared))
        preparing.append((timezone.now() - started).total_seconds())
    if not sendable:
        return results
    _keep_destinations([(delivery, prepared) for delivery, _, prepared in sendable])
    lanes = Lanes(target.id, pacing.sends_per_drain(target))
    answers: list[SendResult | BaseException | None] = [None] * len(sendable)
    per_request = adapter.items_per_request(target.config)
    units = arrays.requests_of(
        [prepared for _, _, prepared in sendable],
        arrays.array_sizes(per_request, [delivery for delivery, _, _ in sendable], policy, timezone.now()),
    )
    split_until = claims.split_deadline(target, [delivery for delivery, _, _ in sendable])
    room = claims.send_seconds(target, adapter)

    def attempt(members: list[int]) -> SendResult | BaseException:
        claim = min(claims.ends([sendable[index][0] for index in members]), default=None)
        together = [sendable[index][2] for index in members]
        # ``requests_per_send`` counts the look-ups preparing made at the target (Slack: the
        # learner, the channel's id, earlier places): the send needs only what is left of them,
        # counted in whole timeouts (preparing's own database reads are not requests).
        timeout = claims.request_timeout(target)
        spent = timeout * math.floor(min(preparing[index] for index in members) / timeout)
        return _attempt(adapter, together, per_request, schedule, lanes, claim, max(timeout, room - spent))

    def send(unit: int) -> None:  # on a lane: one request, carrying one delivery or several
        arrays.send_splitting(
            units[unit], attempt, answers, may_send_again=lambda: time.monotonic() < split_until
        )

    # A send that touched the database leaves no connection behind on its lane's thread.
    began = time.monotonic()
    lanes.run(len(units), send, _sending_pool(), after_lane=connections.close_all)
    timing.sending += time.monotonic() - began
    shared = arrays.answers_shared(answers)
    for (delivery, started, prepared), answer in zip(sendable, answers, strict=True):
        together = id(answer) in shared
        outcome = _prepared_outcome(delivery, answer, started, policy, adapter, shared=together)  # type: ignore[arg-type]
        outcome.requests = arrays.attempt_record(answer, prepared, per_request)
        if together:
            outcome.excerpt = arrays.ARRAY_ANSWER_NOTE
        results.append(outcome)
    return results


def _keep_destinations(sendable: list[tuple[Delivery, Prepared]]) -> None:
    """Write where each request's effect will be (``OutboundRequest.destination``) on its delivery
    before it is sent, in one statement: a worker that dies after sending leaves its retry that
    much to look in. Only on those still in flight under this worker's claim: one whose claim ran
    out sends nothing (``claims.CLAIM_PASSED``) and the places kept are its next owner's."""
    changed: dict[datetime | None, list[Delivery]] = {}
    for delivery, prepared in sendable:
        destination = next((request.destination for request in prepared.requests if request.destination), "")
        if destination and destination != delivery.external_id:
            delivery.external_id = destination
            changed.setdefault(delivery.claimed_until, []).append(delivery)
    for claim, deliveries in changed.items():  # one claim for the whole batch, as a rule
        ours = Delivery.objects.filter(status=Delivery.IN_FLIGHT, claimed_until=claim)
        ours.bulk_update(deliveries, ["external_id"])


def _attempt(
    adapter: Adapter,
    together: list[Prepared],
    per_request: int,
    schedule: Schedule,
    lanes: Lanes,
    claim: datetime | None,
    room: float,
) -> SendResult | BaseException:
    """One request, in its slot of the rate limit: a delivery's own (``send_prepared``) or an
    array of several (``send_together``); what came back, or the error. Not sent once ``claim``
    (the end of its deliveries' claim) is less than ``room`` seconds (what the send may take)
    away."""
    first = together[0]
    if not claims.turn(schedule, claim, room):
        return DeliveryBusy(claims.CLAIM_PASSED)
    try:
        with correlation.bound(first.context.correlation_id):
            if per_request == 1 or len(first.requests) != 1:
                return lanes.timed(lambda: adapter.send_prepared(first))
            return lanes.timed(lambda: adapter.send_together(together))
    except (AdapterError, DeliveryBusy) as exc:  # busy: nothing went out (Slack's look first)
        return exc
    except SecretUnavailable as exc:  # one error for the request, whatever it carried (the breaker)
        return AdapterError(str(exc))
    except Exception as exc:  # a bug while sending: it may have gone out
        logger.exception("sending delivery %s failed", first.context.idempotency_key)
        return AdapterError(f"unexpected error: {type(exc).__name__}: {exc}", ambiguous=True)
