"""Errors raised by the pure xAPI rules.

Every rejection names the offending property path (``statement.actor.mbox``,
``statements[3].result.score.scaled``) and the rule it broke, so that a client
can fix its request without reading the LRS source. The HTTP layer maps
these to the status codes of xAPI 1.0.3 Communication section 3.2
(https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#32-error-codes).
"""

from __future__ import annotations


class XAPIError(Exception):
    """Base class: an xAPI request the LRS refuses. ``status`` is the HTTP status."""

    status = 400

    def __init__(self, message: str, *, path: str = "", rule: str = "") -> None:
        self.message = message
        self.path = path
        self.rule = rule
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.path:
            return f"{self.path}: {self.message}"
        return self.message

    def as_dict(self) -> dict[str, str]:
        body = {"error": type(self).__name__, "message": self.describe()}
        if self.path:
            body["path"] = self.path
        if self.rule:
            body["rule"] = self.rule
        return body


class XAPIValidationError(XAPIError):
    """A statement or parameter breaks a rule of the spec (400)."""


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
