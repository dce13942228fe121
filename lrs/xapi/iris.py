"""IRIs and IRLs.

xAPI 1.0.3 Data 4.3 (IRIs) and 3.1 (IRI Requirements); Data 2.2: the LRS MUST
reject "IRL or IRI values without a scheme" and non-format-following values,
and MAY use best-effort validation for IRL and IRI formats.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#43-iris
IEEE 9274.1.1 (xAPI 2.0) 4.2.1: "An LRS shall reject a Statement with invalid IRIs".

Validation is the syntax of an absolute IRI in RFC 3987 (``scheme ":"
ihier-part ["?" iquery] ["#" ifragment]``), best effort:

* a scheme (``ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )``) and something after the colon;
* no space, control characters or the characters ``<>"{}|\\^``` `` that an IRI
  never contains (non-ASCII characters are allowed); ``%`` only as a ``%HH``
  escape; at most one ``#``;
* when there is an authority (``scheme://``), it is a plausible
  ``[userinfo@]host[:port]`` with a non-empty host (except for ``file:``).

An IRL ("an IRI that when translated into a URI is a URL", Data 2.4.4.1) must in
addition have an authority, i.e. look like ``scheme://host/...``; ``urn:`` or
``mailto:`` values are IRIs but not IRLs.

IRIs are compared by simple string comparison (RFC 3987 5.3.1), which Data 3.1
and IEEE 9274.1.1 4.2.7 allow; no normalisation happens here.

Valid values are remembered in a bounded set: the statements of a batch repeat
the same verb, activity and extension IRIs.
"""

from __future__ import annotations

import re

# Never in an IRI (RFC 3987 2.2): space, C0/C1 controls, DEL and <>"{}|\^`
_EXCLUDED = r" <>\"{}|\\^`\x00-\x1f\x7f-\x9f"
_IRI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:"  # scheme
    r"(?:"
    r"(//)"  # an authority: [userinfo@]host[:port] with a non-empty host
    rf"(?:[^@\[\]/?#{_EXCLUDED}]*+@)?"
    rf"(?:\[[0-9A-Fa-f:.vV]++\]|[^:@\[\]/?#{_EXCLUDED}]++)"
    r"(?::[0-9]*+)?"
    r"(?=[/?#]|\Z)"
    r"|(?!//)(?!\Z)"  # or no authority, but something after the colon
    r")"
    rf"[^{_EXCLUDED}]*+\Z"  # path, query, fragment
)
_FILE = re.compile(rf"[Ff][Ii][Ll][Ee]:///[^{_EXCLUDED}]*+\Z")  # file:///path: the empty host of RFC 8089
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

# Valid IRIs seen recently. Statements in a batch repeat the same verb, activity and
# extension IRIs, so remembering the valid ones saves most of the checking.
_CACHE_LIMIT = 20_000
_valid_iris: set[str] = set()
_valid_irls: set[str] = set()


def forget_iris() -> None:
    """Forget the IRIs remembered valid (an OpenID names a person: an erasure forgets them)."""
    _valid_iris.clear()
    _valid_irls.clear()


def _shape(value: str) -> bool | None:
    """None if ``value`` is not an IRI; else whether it has an authority (is an IRL)."""
    match = _IRI.match(value) or _FILE.match(value)
    if match is None:
        return None
    if ("%" in value and _BAD_PERCENT.search(value)) or value.count("#") > 1:
        return None
    return match.re is _FILE or match.group(1) is not None


def is_iri(value: object) -> bool:
    """True for an absolute IRI with a scheme (best-effort RFC 3987 syntax)."""
    if type(value) is not str:
        return False
    if value in _valid_iris:
        return True
    if _shape(value) is None:
        return False
    if len(_valid_iris) >= _CACHE_LIMIT:
        _valid_iris.clear()
    _valid_iris.add(value)
    return True


def is_irl(value: object) -> bool:
    """True for an IRI that is a locator: ``scheme://authority...`` (http, https, ftp, file...)."""
    if type(value) is not str:
        return False
    if value in _valid_irls:
        return True
    if not _shape(value):
        return False
    if len(_valid_irls) >= _CACHE_LIMIT:
        _valid_irls.clear()
    _valid_irls.add(value)
    return True
