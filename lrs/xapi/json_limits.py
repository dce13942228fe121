"""How deeply a JSON text the LRS reads may nest: checked before it is parsed.

RFC 8259 section 9 (Parsers): "An implementation may set limits on the maximum depth of
nesting." https://www.rfc-editor.org/rfc/rfc8259#section-9
Without one, a body or parameter nested some thousand levels deep stops the parser (or a rule
walking the value) with ``RecursionError``, a 500. Every JSON text the LRS reads (statement
bodies and multipart statement parts, JSON documents, JWS payloads, the ``agent`` parameter)
goes through :func:`check_depth`, which answers nesting beyond the limit with a 400 naming it
(rule ``json-depth``).

xAPI statements nest about ten levels, extensions more; the limit
(``LRS_MAX_JSON_DEPTH``, default :data:`DEFAULT_MAX_DEPTH`) is set per request by the HTTP layer
through :func:`max_depth_set`, since the spec rules do not read settings.

Cost: a text with no more ``[`` and ``{`` than the limit cannot nest deeper, which two
``count`` calls show (a single statement: well under a microsecond). Otherwise strings are cut
out and the bracket skeleton is peeled, innermost pairs first, once per level (C-speed regular
expressions): a batch of 100 statements takes a few hundred microseconds. Only a skeleton left
after ``limit`` peels (too deep, or unbalanced, i.e. not JSON) is walked in Python.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from lrs.xapi.errors import XAPIValidationError

DEFAULT_MAX_DEPTH = 100
SETTING = "LRS_MAX_JSON_DEPTH"

_max_depth: ContextVar[int] = ContextVar("lrs_max_json_depth", default=DEFAULT_MAX_DEPTH)

_STRING = re.compile(rb'"[^"]*"')  # in the skeleton, where escapes are gone
_NOT_SKELETON = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_PRECOUNT_BELOW = 16 * 1024  # a longer text (a batch) has more brackets than any limit anyway


def max_depth() -> int:
    return _max_depth.get()


def max_depth_set(limit: int) -> None:
    """The limit for JSON read in this context (the HTTP layer sets it for each request)."""
    if _max_depth.get() != limit:
        _max_depth.set(limit)


def nesting_depth(skeleton: bytes) -> int:
    """The deepest nesting of a bracket skeleton (``[{}[]]``: 2); closers beyond openers count as 0."""
    depth = deepest = 0
    for byte in skeleton:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def _skeleton(data: bytes) -> bytes:
    """The brackets of JSON text outside its strings: ``{"a": ["[", 1]}`` gives ``{[]}``.

    Escaped backslashes, then escaped quotes, go first (JSON pairs backslashes left to right), so
    every quote left delimits a string. Two adjacent quotes hide nothing between them and go
    next; only strings holding brackets are left for the regular expression."""
    # One byte is looked for first (memchr): a search for two bytes reads about a byte a
    # nanosecond, 0.1 ms each on a batch of 100 statements, nearly always to find nothing.
    if b"\\" in data:
        if b"\\\\" in data:
            data = data.replace(b"\\\\", b"")
        if b'\\"' in data:
            data = data.replace(b'\\"', b"")
    kept = data.translate(None, _NOT_SKELETON).replace(b'""', b"")
    return _STRING.sub(b"", kept) if b'"' in kept else kept


def exceeds(text: str | bytes, limit: int) -> bool:
    """Whether the JSON ``text`` nests arrays and objects more than ``limit`` levels deep."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(data) < _PRECOUNT_BELOW and data.count(b"[") + data.count(b"{") <= limit:
        return False
    skeleton = _skeleton(data)
    # Each peel takes at most two levels: within limit // 2 peels, only text no deeper than
    # the limit is gone; the rest (deep, unbalanced or just deeper than limit // 2) is walked.
    peeled = skeleton
    for _peel in range(limit // 2):
        peeled = peeled.replace(b"{}", b"").replace(b"[]", b"")
        if not peeled:
            return False
    return nesting_depth(skeleton) > limit


def check_depth(text: str | bytes, *, path: str) -> None:
    """A 400 (rule ``json-depth``) for JSON nested deeper than the limit, before it is parsed."""
    if exceeds(text, _max_depth.get()):
        raise too_deep(path)


def too_deep(path: str) -> XAPIValidationError:
    """The error for JSON nested beyond the limit (also for a parser or rule that ran out of
    stack on text that got past :func:`check_depth`, which only malformed JSON could)."""
    return XAPIValidationError(
        f"JSON nested deeper than {_max_depth.get()} levels ({SETTING})", path=path, rule="json-depth"
    )
