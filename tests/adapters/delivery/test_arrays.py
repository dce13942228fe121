"""Requests carrying several deliveries (``adapters.delivery.arrays``): grouping a drained batch,
splitting an array the target refuses, and what an attempt record keeps of the array."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from adapters.base import DeliveryBusy, DeliveryContext, OutboundRequest, Prepared, SendResult
from adapters.delivery.arrays import (
    answers_shared,
    array_sizes,
    attempt_record,
    policy_for_shared_failure,
    requests_needed,
    requests_of,
    send_splitting,
)
from adapters.models import Delivery
from adapters.outbound import AdapterError
from adapters.rules.retry import RetryPolicy, decide

OK = SendResult(status_code=200)
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy()  # 12 attempts, 24 h


def item(number: int) -> Prepared:
    key = f"S{number}:hook:deliver"
    context = DeliveryContext(target_name="hook", kind="deliver", idempotency_key=key)
    body = json.dumps({"idempotencyKey": key, "event": "statement.stored"}).encode()
    return Prepared(context, [OutboundRequest("POST", "https://hooks.example.com/lrs", body=body)])


def claimed(attempts: int, age_seconds: float = 0.0) -> Delivery:
    return Delivery(attempts=attempts, created_at=NOW - timedelta(seconds=age_seconds))


def test_requests_carry_up_to_the_size_in_claim_order_and_smaller_arrays_after_repeated_failures():
    items = [item(number) for number in range(8)]
    items[4] = Prepared(items[4].context, [], "nothing to send")  # goes alone, through send_prepared
    # Failed before: none or once (full arrays of 4), twice (arrays of 2), three times (alone).
    deliveries = [claimed(failed + 1) for failed in (0, 1, 2, 0, 0, 0, 0, 3)]
    assert requests_of(items, array_sizes(4, deliveries, POLICY, NOW)) == [[0, 1, 3, 5], [2], [4], [6], [7]]
    assert requests_of(items, array_sizes(1, deliveries, POLICY, NOW)) == [[index] for index in range(8)]
    assert array_sizes(100, [claimed(10)] * 3, POLICY, NOW) == [1, 1, 1]  # 100 >> 8: alone


def test_a_delivery_past_its_attempts_or_age_goes_alone_and_a_shared_failure_is_never_its_last():
    two_attempts = RetryPolicy(max_attempts=2, max_age_seconds=3600)
    # Its attempts 1 and 2 in full arrays; a third, past max_attempts, alone; a second past max_age
    # too, but not a first (a backlog older than that which never failed).
    deliveries = [claimed(1), claimed(2), claimed(3), claimed(2, age_seconds=3600), claimed(1, 3600)]
    assert array_sizes(4, deliveries, two_attempts, NOW) == [4, 4, 1, 1, 4]
    assert requests_needed([4, 4, 1, 1, 4]) == 1 + 2
    assert array_sizes(100, [claimed(2)], RetryPolicy(max_attempts=1), NOW) == [1]
    # Judged with room for one more attempt whatever its age, so the policy retries it (alone, then).
    for attempt, policy in ((1, RetryPolicy(max_attempts=1)), (12, POLICY), (3, POLICY)):
        shared = policy_for_shared_failure(policy, attempt)
        decision = decide(attempt=attempt, age_seconds=1e9, permanent=False, retry_after=None, policy=shared)
        assert decision.retry
        assert not decide(
            attempt=attempt, age_seconds=0, permanent=True, retry_after=None, policy=shared
        ).retry


class Receiver:
    """Refuses (422) any request carrying one of ``refused``; records each request's members."""

    def __init__(self, *refused: int, gone_after: int | None = None) -> None:
        self.refused, self.gone_after, self.requests = set(refused), gone_after, []

    def __call__(self, members: list[int]) -> SendResult | AdapterError:
        self.requests.append(list(members))
        if self.gone_after is not None and len(self.requests) > self.gone_after:
            return AdapterError("the target answered 410 Gone", permanent=True, disable_target=True)
        if self.refused & set(members):
            return AdapterError("the target answered 422", permanent=True, status_code=422)
        return OK


def test_a_refused_array_is_split_in_halves_until_only_the_refused_delivery_fails():
    receiver = Receiver(5)
    answers: list = [None] * 8
    send_splitting(list(range(8)), receiver, answers, may_send_again=lambda: True)
    assert receiver.requests == [list(range(8)), [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [4], [5], [6, 7]]
    assert [answer is OK for answer in answers] == [True] * 5 + [False] + [True] * 2
    assert answers[5].status_code == 422


def test_an_array_failing_for_a_while_is_not_split_nor_is_one_refused_alone():
    for refused, members in ((None, [0, 1, 2]), (0, [0])):
        answers: list = [None] * len(members)
        retryable = lambda members: AdapterError("the target answered 503", status_code=503)  # noqa: E731
        send_splitting(
            members, retryable if refused is None else Receiver(refused), answers, may_send_again=lambda: True
        )
        assert all(isinstance(answer, AdapterError) for answer in answers)


def test_the_split_stops_when_the_claim_runs_out_and_puts_the_rest_back_uncounted():
    receiver = Receiver(0)
    answers: list = [None] * 4
    checks = iter([True, False])  # the first half may go again, the second no longer
    send_splitting(list(range(4)), receiver, answers, may_send_again=lambda: next(checks, False))
    assert receiver.requests[:2] == [[0, 1, 2, 3], [0, 1]]
    assert all(isinstance(answer, DeliveryBusy) for answer in answers[2:])


def test_a_target_gone_during_the_split_gets_nothing_more():
    receiver = Receiver(3, gone_after=1)  # the array is refused, then the target answers 410
    answers: list = [None] * 4
    send_splitting(list(range(4)), receiver, answers, may_send_again=lambda: True)
    assert receiver.requests == [[0, 1, 2, 3], [0, 1]]
    assert all(isinstance(answer, AdapterError) and answer.disable_target for answer in answers)


def test_an_attempt_record_keeps_the_arrays_headers_with_only_its_own_event():
    mine, theirs = item(1), item(2)
    body = b"[" + mine.requests[0].body + b"," + theirs.requests[0].body + b"]"
    error = AdapterError("the target answered 500", status_code=500)
    error.request = OutboundRequest(
        "POST", "https://hooks.example.com/lrs", body=body, headers={"X-LRS-Event": "batch"}
    )
    [record] = attempt_record(error, mine, per_request=2)
    assert record.headers == {"X-LRS-Event": "batch"}
    assert json.loads(record.body) == [json.loads(mine.requests[0].body)]
    assert attempt_record(error, mine, per_request=1) == mine.requests  # not batched: its own request
    assert attempt_record(OK, mine, per_request=2) == mine.requests


def test_answers_shared_are_those_of_arrays_of_several():
    alone, together = SendResult(status_code=200), SendResult(status_code=200)
    assert answers_shared([alone, together, None, together]) == {id(together)}


def test_a_target_gone_deep_in_the_split_sends_nothing_more_and_marks_nothing_delivered():
    """The 410 comes on a single delivery's re-send after its neighbour went through: the rest of
    its half and the other half get that 410, not the neighbour's success."""
    receiver = Receiver(1, gone_after=4)  # [0..7], [0..3], [0, 1] refused; [0] taken; [1] 410
    answers: list = [None] * 8
    send_splitting(list(range(8)), receiver, answers, may_send_again=lambda: True)
    assert receiver.requests == [list(range(8)), [0, 1, 2, 3], [0, 1], [0], [1]]
    assert answers[0] is OK
    assert all(isinstance(answer, AdapterError) and answer.disable_target for answer in answers[1:])


def test_requests_needed_counts_the_smaller_arrays_of_deliveries_that_failed_before():
    def needed(per_request: int, failed_before: list[int]) -> int:
        deliveries = [claimed(failed + 1) for failed in failed_before]
        return requests_needed(array_sizes(per_request, deliveries, POLICY, NOW))

    assert needed(50, [0] * 100) == 2
    assert needed(50, [0] * 50 + [2] * 50) == 1 + 2  # arrays of 25 for those failed twice
    assert needed(50, [9] * 7) == 7  # alone
    assert needed(1, [0, 3, 9]) == 3
