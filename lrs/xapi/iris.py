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

_IRI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:"  # scheme
    r"[^\s<>\"{}|\\^`\x00-\x1f\x7f-\x9f]+\Z"  # the rest: no space, controls or excluded characters
)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_AUTHORITY = re.compile(
    r"(?:[^@/?#\[\]]*@)?"  # userinfo
    r"(?:\[[0-9A-Fa-f:.vV]+\]|[^:@/?#\[\]]*)"  # IP literal or reg-name / IPv4
    r"(?::[0-9]*)?\Z"  # port
)
_AUTHORITY_END = re.compile(r"[/?#]")


def _authority(rest: str) -> str | None:
    """The authority of ``//authority/path``, or None if ``rest`` has none."""
    if not rest.startswith("//"):
        return None
    end = _AUTHORITY_END.search(rest, 2)
    return rest[2 : end.start()] if end else rest[2:]


def is_iri(value: object) -> bool:
    """True for an absolute IRI with a scheme (best-effort RFC 3987 syntax)."""
    if type(value) is not str or not _IRI.match(value):
        return False
    if "%" in value and _BAD_PERCENT.search(value):
        return False
    if value.count("#") > 1:
        return False
    scheme, _, rest = value.partition(":")
    authority = _authority(rest)
    if authority is None:
        return True
    if not _AUTHORITY.match(authority):
        return False
    host = authority.rpartition("@")[2]
    return bool(host.split(":", 1)[0] if not host.startswith("[") else host) or scheme.lower() == "file"


def is_irl(value: object) -> bool:
    """True for an IRI that is a locator: ``scheme://authority...`` (http, https, ftp, file...)."""
    if not is_iri(value):
        return False
    return _authority(value.partition(":")[2]) is not None  # type: ignore[union-attr]
