"""Errors raised by the pure xAPI rules.

Every rejection names the offending property path (``statement.actor.mbox``,
``statements[3].result.score.scaled``) and the rule it broke, so that a client
can fix its request without reading the LRS source. The HTTP layer maps
these to the status codes of xAPI 1.0.3 Communication section 3.2
(https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#32-error-codes).

A request is checked whole: :class:`ErrorCollector` gathers every validation error of a statement
(and the API, of a batch), at most :data:`MAX_ERRORS`, and raises the first one carrying them all
in ``errors``. The body keeps the first error's fields at the top (``error``, ``message``,
``path``, ``rule``) and lists every error in ``errors`` (each with ``path``, ``rule``,
``message``), so a client fixes a batch in one round trip.
"""

from __future__ import annotations

from types import TracebackType

MAX_ERRORS = 100  # errors listed in one answer; validation stops collecting there


class XAPIError(Exception):
    """Base class: an xAPI request the LRS refuses. ``status`` is the HTTP status."""

    status = 400

    def __init__(self, message: str, *, path: str = "", rule: str = "") -> None:
        self.message = message
        self.path = path
        self.rule = rule
        self.others: list[XAPIError] = []  # the request's further errors, in the order found
        super().__init__(self.describe())

    @property
    def errors(self) -> list[XAPIError]:
        """Every error of the request, this one first."""
        return [self, *self.others]

    def describe(self) -> str:
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": type(self).__name__, "message": self.describe()}
        if self.path:
            body["path"] = self.path
        if self.rule:
            body["rule"] = self.rule
        return body

    def error_list(self) -> list[dict[str, str]]:
        """The ``errors`` entries of the body: path, rule and message of each error."""
        return [{"path": e.path, "rule": e.rule, "message": e.describe()} for e in self.errors]


class XAPIValidationError(XAPIError):
    """A statement or parameter breaks a rule of the spec (400). Its body lists every error of
    the request in ``errors``, this one (also at the top) first."""

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "errors": self.error_list()}


class ErrorCollector:
    """Gathers validation errors instead of stopping at the first::

        found = ErrorCollector()
        with found:
            validate_actor(...)
        with found:
            validate_verb(...)
        found.raise_if_any()

    A ``with`` block swallows an :class:`XAPIValidationError` (with the errors it carries) and
    reports whether its block passed in ``passed``; other exceptions pass through. The first error
    found stays first, so the answer's top-level fields are those of a stop-at-first check. At
    :data:`MAX_ERRORS` it raises at once.
    """

    __slots__ = ("found", "passed")

    def __init__(self) -> None:
        self.found: list[XAPIError] = []
        self.passed = True

    def __enter__(self) -> ErrorCollector:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool:
        if kind is None:
            self.passed = True
            return False
        if not isinstance(error, XAPIValidationError):
            return False
        self.passed = False
        self.add(error)
        return True

    def add(self, error: XAPIError) -> None:
        self.found.extend(error.errors)
        if len(self.found) >= MAX_ERRORS:
            self.raise_if_any()

    def raise_if_any(self) -> None:
        if self.found:
            first, *others = self.found[:MAX_ERRORS]
            first.others = others
            raise first


class XAPIConflict(XAPIError):
    """A statement id already stored with different content, or a document precondition (409)."""

    status = 409


class XAPIPreconditionFailed(XAPIError):
    status = 412


class XAPINotFound(XAPIError):
    status = 404


class XAPIUnauthorized(XAPIError):
    status = 401


class XAPIForbidden(XAPIError):
    status = 403


class XAPIPayloadTooLarge(XAPIError):
    status = 413
