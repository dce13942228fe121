"""IRIs and IRLs.

xAPI 1.0.3 Data 4.3 (IRIs) and 3.1 (IRI Requirements); Data 2.2: the LRS MUST
reject "IRL or IRI values without a scheme" and non-format-following values,
and MAY use best-effort validation for IRL and IRI formats.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#43-iris
IEEE 9274.1.1 (xAPI 2.0) 4.2.1: "An LRS shall reject a Statement with invalid IRIs".

Validation is the syntax of an absolute IRI in RFC 3987 (``scheme ":"
ihier-part ["?" iquery] ["#" ifragment]``), best effort:

* a scheme (``ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )``) and something after the colon;
* no whitespace, control characters or the characters ``<>"{}|\\^``` `` that an
  IRI never contains; ``%`` only as a ``%HH`` escape; at most one ``#``;
* when there is an authority (``scheme://``), it is a plausible
  ``[userinfo@]host[:port]`` with a non-empty host (except for ``file:``).

An IRL ("an IRI that when translated into a URI is a URL", Data 2.4.4.1) must in
addition have an authority, i.e. look like ``scheme://host/...``; ``urn:`` or
``mailto:`` values are IRIs but not IRLs.

IRIs are compared by simple string comparison (RFC 3987 5.3.1), which Data 3.1
and IEEE 9274.1.1 4.2.7 allow; no normalisation happens here.
"""

from __future__ import annotations

import re

# Never in an IRI (RFC 3987 2.2): space, C0/C1 controls, DEL and <>"{}|\^`
_EXCLUDED = r" <>\"{}|\\^`\x00-\x1f\x7f-\x9f"
_SHAPE = re.compile(
    rf"([A-Za-z][A-Za-z0-9+.\-]*):"  # scheme
    r"(?!\Z)"  # something after the colon
    rf"(?://([^/?#{_EXCLUDED}]*+))?"  # authority
    rf"[^{_EXCLUDED}]*+\Z"  # path, query, fragment
)
_AUTHORITY = re.compile(
    r"(?:[^@\[\]]*+@)?"  # userinfo
    r"(?:\[[0-9A-Fa-f:.vV]++\]|[^:@\[\]]++)"  # IP literal, or a non-empty reg-name / IPv4 address
    r"(?::[0-9]*+)?\Z"  # port
)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _check(value: object, *, locator: bool) -> bool:
    if type(value) is not str:
        return False
    match = _SHAPE.match(value)
    if match is None:
        return False
    authority = match.group(2)
    if authority is None:
        if locator:
            return False
    elif not _AUTHORITY.match(authority) and not (authority == "" and match.group(1).lower() == "file"):
        return False
    if "%" in value and _BAD_PERCENT.search(value):
        return False
    return value.count("#") <= 1


def is_iri(value: object) -> bool:
    """True for an absolute IRI with a scheme (best-effort RFC 3987 syntax)."""
    return _check(value, locator=False)


def is_irl(value: object) -> bool:
    """True for an IRI that is a locator: ``scheme://authority...`` (http, https, ftp, file...)."""
    return _check(value, locator=True)
