"""Requests that carry several deliveries, for a target that takes arrays
(``Adapter.items_per_request`` above 1: the webhook's ``batch_size``): how a drained batch is
grouped into requests, how an array the target refuses is split, and what each delivery's
attempt record shows of the request it went in.

The target's answer is the outcome of every delivery in the request. So that one delivery the
target will not take cannot sink the others with it:

- an array refused for good (an answer the engine gives up on: a 4xx other than 408, 425 and 429,
  or a 3xx; 410 disables the target instead) is split in halves at once, and each half sent
  again, down to single deliveries: one item it refuses costs about two requests per halving
  (14 for an array of 100), a body too large for the target about one more per halving;
- a delivery that failed before travels in smaller arrays: each failure after its first halves
  the array it may go in, so an item the target keeps failing (a 5xx it raises for that item)
  ends up alone by its 8th attempt at most (arrays of 100; a target's ``max_attempts`` is 12 by
  default), and the deliveries sharing its arrays meanwhile
  are retried in ever smaller ones (after an outage, a backlog that failed twice still travels
  in arrays half the size);
- an answer to an array of several never gives a delivery up when it fails it for a reason that
  may be another item's (a retryable failure: a 5xx, a timeout): a delivery whose attempts or
  age run out so (the target's ``max_attempts``, ``LRS_RETRY_MAX_AGE_SECONDS``) gets one more
  attempt, alone, and only an answer to it alone ends it. So however few attempts a target
  allows, the deliveries that shared arrays with an item the target keeps failing land, and
  only that item is given up;
- the splitting stops when the batch's claim is about to run out: what was not sent again by
  then is put back without counting an attempt, for a later drain.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adapters.base import DeliveryBusy, OutboundRequest, Prepared, SendResult
from adapters.models import Delivery
from adapters.outbound import AdapterError
from adapters.redaction import readable_body, redacted_pairs, redacted_text
from adapters.rules.retry import RetryPolicy

logger = logging.getLogger(__name__)

# What an attempt record keeps of an error, a target's answer or a request's body.
EXCERPT_CHARS = 2000

Answer = SendResult | BaseException


def requests_of(prepared: list[Prepared], sizes: list[int]) -> list[list[int]]:
    """The requests to make, as indexes into ``prepared``, in claim order (by first delivery):
    each delivery in an array of at most its ``sizes`` (``array_sizes``), with others of the same
    size. A delivery with no request to make, or several, goes alone (``Adapter.send_prepared``)."""
    if max(sizes, default=1) <= 1:
        return [[index] for index in range(len(prepared))]
    units: list[list[int]] = []
    filling: dict[int, list[int]] = {}  # array size -> the array being filled
    for index, one in enumerate(prepared):
        if len(one.requests) != 1:
            units.append([index])
            continue
        size = sizes[index]
        unit = filling.setdefault(size, [])
        unit.append(index)
        if len(unit) == size:
            units.append(filling.pop(size))
    units.extend(filling.values())
    return sorted(units)


def array_sizes(
    per_request: int, deliveries: Sequence[Delivery], policy: RetryPolicy, now: datetime
) -> list[int]:
    """How many deliveries an array may carry with each of these claimed ones (their attempt
    counted): ``per_request``, halved by each failure after its first; one, once it failed and is
    past the policy's attempts or age (they ran out in an array: ``policy_for_shared_failure``; a
    backlog older than that which never failed still travels in arrays)."""
    if per_request <= 1:
        return [1] * len(deliveries)
    sizes = []
    for delivery in deliveries:
        failed_before = delivery.attempts - 1
        if failed_before >= policy.max_attempts or (
            failed_before and (now - delivery.created_at).total_seconds() >= policy.max_age_seconds
        ):
            sizes.append(1)
        else:
            sizes.append(max(1, per_request >> max(0, failed_before - 1)))
    return sizes


def policy_for_shared_failure(policy: RetryPolicy, attempt: int) -> RetryPolicy:
    """The retry policy a retryable failure shared with other deliveries is judged by: with room
    for one more attempt, whatever the delivery's age (that one alone: module docstring)."""
    return replace(policy, max_attempts=max(policy.max_attempts, attempt + 1), max_age_seconds=math.inf)


def requests_needed(sizes: list[int]) -> int:
    """How many requests ``requests_of`` makes of deliveries of these array sizes (a split aside)."""
    counts = Counter(sizes)
    return sum(math.ceil(count / size) for size, count in counts.items())


def send_splitting(
    members: list[int],
    attempt: Callable[[list[int]], Answer],
    answers: list[Answer | None],
    *,
    may_send_again: Callable[[], bool],
) -> None:
    """Send ``members`` in one request (``attempt``) and record the answer for each; an array
    refused for good is split in halves and each sent again, while ``may_send_again``."""
    answer = attempt(members)
    if len(members) == 1 or not _refused_for_good(answer):
        for index in members:
            answers[index] = answer
        return
    logger.warning(
        "the target refused an array of %d deliveries (%s): sending it again in halves", len(members), answer
    )
    middle = len(members) // 2
    for half in (members[:middle], members[middle:]):
        gone = _gone(answers, members[:middle])  # the first half disabled the target (410)
        if gone is not None:
            for index in half:
                answers[index] = gone
        elif not may_send_again():
            put_back = DeliveryBusy("its array was refused; sent again in a later batch (the claim ran out)")
            for index in half:
                answers[index] = put_back
        else:
            send_splitting(half, attempt, answers, may_send_again=may_send_again)


def attempt_record(answer: Answer | None, prepared: Prepared, per_request: int) -> list[OutboundRequest]:
    """What the delivery's attempt record shows of the request (summarised only if the attempt
    failed): for an array, its headers with this delivery's own item alone, never the other
    people's events it carried (an erasure clears only the erased person's records)."""
    sent = answer.request if isinstance(answer, AdapterError) and per_request > 1 else None
    if sent is None or len(prepared.requests) != 1:
        return prepared.requests
    return [replace(sent, body=b"[" + (prepared.requests[0].body or b"") + b"]")]


# What an attempt record keeps of the target's answer to an array of several deliveries: not the
# answer itself, which may quote the other people's events (an erasure clears only the erased
# person's records); their status code and the error's message stay.
ARRAY_ANSWER_NOTE = "(the answer to an array of several events is not kept: it may quote other people's)"


def answers_shared(answers: list[Answer | None]) -> set[int]:
    """The ids of the answers that more than one delivery got: answers to arrays of several."""
    seen: set[int] = set()
    shared: set[int] = set()
    for answer in answers:
        if answer is not None:
            (shared if id(answer) in seen else seen).add(id(answer))
    return shared


def _refused_for_good(answer: Answer) -> bool:
    return isinstance(answer, AdapterError) and answer.permanent and not answer.disable_target


def _gone(answers: list[Answer | None], members: list[int]) -> AdapterError | None:
    """The answer among these that disabled the target (a 410), if any."""
    for index in members:
        answer = answers[index]
        if isinstance(answer, AdapterError) and answer.disable_target:
            return answer
    return None


def request_summary(requests: list[OutboundRequest]) -> str:
    """What was sent, for an operator: method and URL (secret query values redacted), headers
    (authorization, signatures, keys and tokens redacted), the body cut to ``EXCERPT_CHARS`` (JSON
    and form fields named like secrets redacted: ``adapters.redaction``); any resolved secret
    value left anywhere (a webhook URL, a body) is redacted too."""
    parts = []
    for request in requests:
        url = urlsplit(request.url)
        query = urlencode(redacted_pairs(parse_qsl(url.query)))
        lines = [f"{request.method} {urlunsplit(url._replace(query=query))}"]
        lines += [f"{name}: {value}" for name, value in redacted_pairs(request.headers.items())]
        body = readable_body(request)
        if body:
            lines += ["", body[:EXCERPT_CHARS] + (" [...]" if len(body) > EXCERPT_CHARS else "")]
        parts.append("\n".join(lines))
    return redacted_text("\n\n".join(parts))
