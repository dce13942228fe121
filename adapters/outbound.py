"""What crosses the one HTTP seam: the request an adapter builds, what came back, the error
a failed attempt raises, and ``DeliveryBusy``, which says an attempt was not made. Below both
``adapters.base`` (the contract) and ``adapters.http`` (the seam), so neither has to import the
other's module to name them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class AdapterError(Exception):
    """A delivery attempt failed.

    ``permanent``: retrying cannot succeed (a 4xx other than 408/429), go to dead letter.
    ``retry_after``: seconds the target asked us to wait (429/503 ``Retry-After``).
    ``disable_target``: the target is gone for good (410), stop sending to it.
    ``ambiguous``: the request may have reached the target and taken effect although no success
    came back (a read timeout, a connection lost after sending, a 5xx). Sending again is safe
    only where the target drops repeats or the adapter looks before re-sending.
    ``unlookable``: an ambiguous failure of an effect this adapter cannot look for before sending
    again, although it can for others (``Adapter.may_resend_unknown_outcome``): parked as outcome
    unknown, as every one is at a target offering no look-up (a Slack post by channel name).
    ``throttled``: the target's rate limit for one kind of request refused it (a Slack method's
    429), which the adapter holds back until ``retry_after`` itself: a failed attempt, retried
    like any, but no failure of the target, so its breaker does not count it.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
        response_body: str = "",
        disable_target: bool = False,
        ambiguous: bool = False,
        unlookable: bool = False,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.status_code = status_code
        self.response_body = response_body
        self.disable_target = disable_target
        self.ambiguous = ambiguous
        self.unlookable = unlookable
        self.throttled = throttled
        # The request that failed, when it was an HTTP request (``adapters.http.send`` sets it):
        # a delivery run whole records it for the admin (redacted) like a batch's prepared ones.
        self.request: OutboundRequest | None = None


class DeliveryBusy(Exception):
    """Another delivery is changing the same state at the target right now (the marketplace's
    record of one member and competency), or what this one needs first is not to be asked yet:
    try again in a moment, or after ``retry_after`` seconds (a rate limit of one method of the
    target's, such as a Slack look-up's, answered 429 by a delivery before); not an attempt."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def failure_text(exc: BaseException, expected: tuple[type[BaseException], ...]) -> str:
    """How a failed send of an alert or a notice is recorded: an ``expected`` failure by its type
    and message; anything else (a bug, an answer no adapter expected) by its type only, since its
    text may quote what was sent or received."""
    if isinstance(exc, expected):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected error: {type(exc).__name__}"


@dataclass(frozen=True)
class OutboundRequest:
    """What ``translate`` produces: everything needed to make one HTTP request."""

    method: str
    url: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 10.0
    # The whole answer is wanted (a read-back page), not the excerpt kept with an attempt.
    whole_answer: bool = False
    # Where the effect will be, when a later attempt must look there whatever the configuration
    # says by then (Slack: the channel's id, which a routing change would move): kept with the
    # delivery before the request is sent (``Delivery.external_id``; a worker may die before
    # recording what came back) and given to its later attempts (``DeliveryContext.external_id``).
    destination: str = ""


@dataclass(frozen=True)
class SendResult:
    """What came back. ``status_code`` None: nothing was sent (``note`` says why, e.g. the record
    at the target is already right). ``external_id``: the id the target gave the effect (the
    PMS's event id), kept with the delivery so a retraction can name it."""

    status_code: int | None
    body: str = ""
    duration_ms: int = 0
    external_id: str = ""
    note: str = ""
