"""How the fake webhook receiver answers: one small value per behaviour.

Tests queue behaviours to script a downstream outage precisely (``503, 503, ok``) instead of
patching the HTTP client, so the engine's real retry, timeout and connection handling run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["respond", "hang", "refuse", "applied"]


@dataclass(frozen=True)
class Behaviour:
    """One answer. ``hang`` waits ``seconds`` before answering; ``refuse`` drops the connection
    without an answer and stops the listener, so later connections are refused until ``start()``."""

    kind: Kind
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0

    @property
    def is_success(self) -> bool:
        return self.kind != "refuse" and 200 <= self.code < 300


def ok() -> Behaviour:
    """200 with an empty body."""
    return Behaviour("respond", 200)


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Behaviour:
    """Any status, e.g. 500/503 (transient), 410 (target gone), 400 (permanent rejection)."""
    return Behaviour("respond", code, dict(headers or {}), body)


def retry_after(seconds: int, code: int = 429) -> Behaviour:
    """Throttling: ``code`` (429 by default) with ``Retry-After: seconds``."""
    return Behaviour("respond", code, {"Retry-After": str(seconds)})


def hang(seconds: float, code: int = 200) -> Behaviour:
    """Answer ``code`` only after ``seconds``: set it past the client's timeout.

    The receiver still *applies* the request (a 2xx after the hang counts in ``distinct_keys``)
    although the client gave up, which is exactly the case idempotency keys exist for.
    """
    return Behaviour("hang", code, seconds=seconds)


def applied_then(code: int = 500) -> Behaviour:
    """The server applies the request, then fails to say so: answers ``code`` (a 5xx after the
    commit), the case a sender cannot tell from a request that never arrived."""
    return Behaviour("applied", code)


def refuse() -> Behaviour:
    """Drop this connection unanswered and stop listening (connection refused from then on)."""
    return Behaviour("refuse", 0)
