"""The retry policy, as one pure function of an attempt's outcome.

Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff And Jitter"): the n-th retry waits a random time in [0, min(cap,
base * 2**(n-1))], so many failing deliveries spread out instead of retrying in
lockstep. A ``Retry-After`` from the target (429/503, read by ``adapters.http``) wins when it is
longer.

Schedule with the defaults (base 2 s, cap 1 h): upper bounds 2 s, 4 s, 8 s, ...,
about 34 min at the 11th retry, then 1 h; dead after ``max_attempts`` (12) or
``max_age`` (24 h) whichever comes first.

Both bound retrying *failed attempts*: the policy is asked only when an attempt fails. A delivery
put back without an attempt (another delivery busy with the same record, a Retry-After of one of
the target's methods, a paused target, a rate limit booked up, a retraction waiting for its
original, an identity hold) is not given up by age: it is sent when the target takes it, and dies
by age only if that attempt fails. Dead-lettering it unfailed would turn a delay into a manual
replay (tests/adapters/delivery/test_put_back_age.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 12
    max_age_seconds: float = 24 * 3600.0
    # Never wait longer than this because a target said so in Retry-After.
    max_retry_after_seconds: float = 6 * 3600.0


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay_seconds: float = 0.0
    reason: str = ""


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] for the retry after ``attempt``."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0, ceiling)


def decide(
    *,
    attempt: int,
    age_seconds: float,
    permanent: bool,
    retry_after: float | None,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    throttled: bool = False,
) -> Decision:
    """Whether to retry after failed attempt number ``attempt`` (1-based), and when.

    ``throttled``: the target's rate limit refused it (a Slack post's 429,
    ``AdapterError.throttled``): an attempt, but not one that gives the delivery up by count, only
    by age. A backlog posted faster than the limit meets a 429 for every few posts in flight, and
    one delivery's retries may keep landing in them: counting those against ``max_attempts``
    would dead-letter what only had to wait."""
    if permanent:
        return Decision(retry=False, reason="permanent failure")
    if attempt >= policy.max_attempts and not throttled:
        return Decision(retry=False, reason=f"gave up after {attempt} attempts")
    delay = backoff_delay(attempt, policy, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after_seconds))
    if age_seconds + delay > policy.max_age_seconds:
        return Decision(retry=False, reason=f"gave up: older than {policy.max_age_seconds:.0f} s")
    return Decision(retry=True, delay_seconds=delay)
