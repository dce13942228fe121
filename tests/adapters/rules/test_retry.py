"""The retry policy as a pure function: backoff with full jitter, Retry-After, limits."""

from __future__ import annotations

import random

from adapters.rules.retry import RetryPolicy, backoff_delay, decide

POLICY = RetryPolicy(base_seconds=2, cap_seconds=60, max_attempts=5, max_age_seconds=3600)


def test_backoff_ceiling_doubles_per_attempt_up_to_the_cap():
    class Top(random.Random):
        def uniform(self, a, b):
            return b

    assert [backoff_delay(n, POLICY, Top()) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_full_jitter_spreads_delays_between_zero_and_the_ceiling():
    rng = random.Random(7)
    delays = [backoff_delay(4, POLICY, rng) for _ in range(500)]
    assert min(delays) >= 0 and max(delays) <= 16
    assert min(delays) < 2 and max(delays) > 14  # really spread, not clustered


def test_retry_after_wins_when_longer_than_the_backoff():
    decision = decide(attempt=1, age_seconds=0, permanent=False, retry_after=30, policy=POLICY)
    assert decision.retry and decision.delay_seconds == 30


def test_permanent_failure_is_not_retried():
    decision = decide(attempt=1, age_seconds=0, permanent=True, retry_after=None, policy=POLICY)
    assert not decision.retry and decision.reason == "permanent failure"


def test_gives_up_after_max_attempts():
    assert decide(attempt=4, age_seconds=0, permanent=False, retry_after=None, policy=POLICY).retry
    decision = decide(attempt=5, age_seconds=0, permanent=False, retry_after=None, policy=POLICY)
    assert not decision.retry and "5 attempts" in decision.reason


def test_gives_up_when_the_next_try_would_be_past_max_age():
    decision = decide(attempt=1, age_seconds=3599, permanent=False, retry_after=10, policy=POLICY)
    assert not decision.retry and "older than" in decision.reason
