"""How the fake webhook receiver answers: one small value per behaviour.

Tests queue behaviours to script a downstream outage precisely (``503, 503, ok``) instead of
patching the HTTP client, so the engine's real retry, timeout and connection handling run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["respond", "hang", "refuse", "applied"]


@dataclass(frozen=True)
class Behaviour:
    """One answer. ``hang`` waits ``seconds`` before answering (or until ``release`` is set, if
    given: ``held``); ``refuse`` drops the connection without an answer and stops the listener, so
    later connections are refused until ``start()``."""

    kind: Kind
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    release: threading.Event | None = field(default=None, compare=False)

    @property
    def is_success(self) -> bool:
        return self.kind != "refuse" and 200 <= self.code < 300

    def stopped_while_hanging(self, stopping: threading.Event) -> bool:
        """Wait as a ``hang`` does; True if the server stopped meanwhile (the request is dropped)."""
        if self.release is None:
            return stopping.wait(self.seconds)
        deadline = time.monotonic() + self.seconds
        while not self.release.is_set() and (left := deadline - time.monotonic()) > 0:
            if stopping.wait(min(left, 0.02)):
                return True
        return stopping.is_set()


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


def held(release: threading.Event, seconds: float = 60.0, code: int = 200) -> Behaviour:
    """Answer ``code`` once ``release`` is set (after ``seconds`` at most): a request kept in
    flight for exactly as long as a test needs, not for a guessed time (e.g. so one worker process
    stays busy sending while the test watches what another one does)."""
    return Behaviour("hang", code, seconds=seconds, release=release)


def applied_then(code: int = 500) -> Behaviour:
    """The server applies the request, then fails to say so: answers ``code`` (a 5xx after the
    commit), the case a sender cannot tell from a request that never arrived."""
    return Behaviour("applied", code)


def refuse() -> Behaviour:
    """Drop this connection unanswered and stop listening (connection refused from then on)."""
    return Behaviour("refuse", 0)
