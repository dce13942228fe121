"""JSON value types, property sets and paths shared by every xAPI rule.

xAPI 1.0.3 Data 2.2 (Formatting Requirements): the LRS MUST reject statements
with null values (except inside extensions), with the wrong data type (a string
where a number or boolean is required), with keys not allowed by the
specification, and a property MUST be used at most once.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#22-formatting-requirements
xAPI 2.0 (IEEE 9274.1.1, 4.2.1 Table Guidelines) turns the "additional
properties" SHOULD* into a SHALL: "An LRS shall reject a Statement with
additional properties other than extensions".

These helpers raise :class:`XAPIValidationError` with the JSON path of the
offending value (``statement.actor.mbox``, ``statement.verb.display["en-US"]``)
and one of the rules ``type``, ``not-null``, ``required``, ``unknown-property``,
``json``, ``json-depth``, ``duplicate-property``, ``unpaired-surrogate`` or ``number-range``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, NoReturn

import orjson

from lrs.xapi.errors import ErrorCollector, XAPIValidationError
from lrs.xapi.json_fast import parse_fast
from lrs.xapi.json_limits import check_depth, too_deep

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def child(path: str, key: str) -> str:
    """The path of ``key`` inside the object at ``path``: ``a.b`` or ``a["en-US"]``."""
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def key_path(path: str, key: str) -> str:
    """The path of an entry of a map keyed by data (language tags, extension IRIs): ``a["en"]``."""
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def type_name(value: object) -> str:
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def short(value: object, limit: int = 80) -> str:
    """A short repr of a value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(message: str, path: str, rule: str) -> NoReturn:
    raise XAPIValidationError(message, path=path, rule=rule)


def wrong_type(expected: str, value: object, path: str) -> NoReturn:
    if value is None:
        fail(f"must be {expected}, not null", path, "not-null")
    fail(f"must be {expected}, got {type_name(value)} {short(value)}", path, "type")


def require_object(value: object, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        wrong_type("an object", value, path)
    return value  # type: ignore[return-value]


def require_array(value: object, path: str) -> list[Any]:
    if type(value) is not list:
        wrong_type("an array", value, path)
    return value  # type: ignore[return-value]


def require_string(value: object, path: str) -> str:
    if type(value) is not str:
        wrong_type("a string", value, path)
    return value  # type: ignore[return-value]


def require_boolean(value: object, path: str) -> bool:
    if type(value) is not bool:
        wrong_type("a boolean", value, path)
    return value  # type: ignore[return-value]


def require_number(value: object, path: str) -> float:
    """A JSON number: int or float, but not a boolean and not NaN or infinity."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    wrong_type("a finite number", value, path)


def check_properties(
    obj: dict[str, Any],
    path: str,
    allowed: frozenset[str],
    required: Iterable[str] = (),
    *,
    what: str = "object",
) -> None:
    """Reject unknown keys and null values, then missing required keys: all of them, in that
    order, raised as one error carrying the others (:class:`ErrorCollector`).

    Unknown keys are reported first (a misspelt key usually explains the missing
    one), with the path of the unknown key itself.
    """
    if obj.keys() <= allowed and None not in obj.values():
        for key in required:
            if key not in obj:
                break
        else:
            return  # the usual case, on every object of every statement: nothing to collect
    found = ErrorCollector()  # the slow path finds which keys and why
    if not obj.keys() <= allowed or None in obj.values():
        for key, value in obj.items():
            with found:
                if key not in allowed:
                    fail(
                        f"{key!r} is not a property of {what} (allowed: {', '.join(sorted(allowed))})",
                        child(path, key),
                        "unknown-property",
                    )
                if value is None:
                    fail(f"{key!r} must not be null", child(path, key), "not-null")
    for key in required:
        if key not in obj:
            with found:
                fail(f"{what} requires {key!r}", child(path, key), "required")
    found.raise_if_any()


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str | bytes, *, path: str = "body") -> Any:
    """Parse JSON text strictly: duplicate keys and NaN/Infinity are rejected.

    Data 2.2: "A Statement MUST use each property no more than one time";
    IEEE 9274.1.1 4.2.1: "An LRS shall reject a Statement that uses a property
    more than once". The standard library keeps the last duplicate silently.
    JSON nested deeper than the limit is rejected before parsing (rule ``json-depth``,
    :mod:`lrs.xapi.json_limits`).
    """
    check_depth(text, path=path)
    value = parse_fast(text)  # C speed; None when only the careful parse below can decide
    if value is not None:
        return value

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise _DuplicateProperty
        return result

    beyond_range: list[_BeyondDouble] = []

    def read_float(literal: str) -> float:
        number = float(literal)
        if math.isinf(number):
            beyond_range.append(marker := _BeyondDouble(literal))
            return marker  # type: ignore[return-value]  # found by the walk below, then a 400
        return number

    try:
        value = json.loads(
            text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant, parse_float=read_float
        )
    except _DuplicateProperty:
        try:
            key, where = _first_duplicate(json.loads(text, object_pairs_hook=_Pairs), path) or ("", path)
        except ValueError as exc:  # the duplicate came before a syntax error: that is the fault
            fail(f"not valid JSON: {exc}", path, "json")
        fail(f"property {key!r} occurs more than once", where, "duplicate-property")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"not valid JSON: {exc}", path, "json")
    except RecursionError:
        raise too_deep(path) from None
    escape = _SURROGATE_ESCAPE_BYTES if isinstance(text, bytes) else _SURROGATE_ESCAPE
    if beyond_range or escape.search(text):  # rare: only then walk the value
        reject_unwritable(value, path)
    return value


class _DuplicateProperty(Exception):
    """An object of the text being parsed has a property twice; where is found afterwards."""


class _Pairs(list):
    """An object's members as read, duplicates kept (``object_pairs_hook``)."""


def _first_duplicate(value: Any, path: str) -> tuple[str, str] | None:
    """The first property found twice in one object (depth first, in text order) and its path,
    e.g. ``statements[2].result.extensions["https://..."]``. Only reached once parsing found one."""
    if type(value) is _Pairs:
        seen: set[str] = set()
        for key, _item in value:
            if key in seen:
                return key, child(path, key)
            seen.add(key)
        items = ((child(path, key), item) for key, item in value)
    elif type(value) is list:
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for where, item in items:
        found = _first_duplicate(item, where)
        if found is not None:
            return found
    return None


class _BeyondDouble(str):
    """A number whose magnitude a double cannot hold (``1e400``), kept as its text until
    :func:`reject_unwritable` names where it is."""


# A \uD800-\uDFFF escape, the only way JSON text can carry a surrogate code point (UTF-8 cannot).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(text: str) -> bool:
    # A surrogate pair is decoded into one character; any surrogate left is unpaired.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable(value: str) -> str | None:
    """Why a text cannot be stored at all (the rule, for ``<field>: <rule>``), or None: PostgreSQL
    text holds no NUL character (a DataError) and UTF-8 no lone surrogate (a JSON ``"\\ud800"``
    escape, or a byte Python read with ``surrogateescape``: a UnicodeEncodeError). For text that
    comes from elsewhere than a JSON body (a command's argument, a CSV cell), which
    ``reject_unwritable`` does not see, so its caller refuses the one value by name."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored"
    if _has_lone_surrogate(value):
        return "contains an unpaired surrogate (U+D800-U+DFFF), which is not a Unicode character"
    return None


def reject_unwritable(value: Any, path: str) -> None:
    """A 400 naming the first part of a parsed JSON value that cannot be written back as JSON text,
    rather than a failure (or a changed value) when it is stored:

    - a number beyond a double's range (``1e400``, read as infinity), rule ``number-range``. RFC
      8259 section 6 lets an implementation limit the range of numbers; a double's (IEEE 754
      binary64, about 1.8e308) is the one every JSON reader downstream shares. Written back, it
      became ``Infinity`` (not JSON) or ``null``. https://www.rfc-editor.org/rfc/rfc8259#section-6
    - a string with an unpaired surrogate escape (``"\\ud800"``), rule ``unpaired-surrogate``: not
      a sequence of Unicode characters, which PostgreSQL text and jsonb cannot hold and UTF-8 cannot
      encode. https://www.rfc-editor.org/rfc/rfc8259#section-8.2
    """
    kind = type(value)
    if kind is _BeyondDouble or (kind is float and math.isinf(value)):
        number = f"the number {short(str(value), 40)}" if kind is _BeyondDouble else "a number"
        fail(
            f"{number} is beyond the range of a double (at most about 1.8e308 in magnitude)",
            path,
            "number-range",
        )
    if kind is str:
        if _has_lone_surrogate(value):
            fail(
                "contains an unpaired surrogate escape (\\ud800-\\udfff), which is not a Unicode character",
                path,
                "unpaired-surrogate",
            )
    elif kind is dict:
        for key, item in value.items():
            if _has_lone_surrogate(key):
                fail(
                    "a property name contains an unpaired surrogate escape (\\ud800-\\udfff)",
                    f"{path}[{json.dumps(key)}]",
                    "unpaired-surrogate",
                )
            reject_unwritable(item, child(path, key))
    elif kind is list:
        for index, item in enumerate(value):
            reject_unwritable(item, f"{path}[{index}]")


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text with non-ASCII characters kept as they are: the form a
    statement is stored in. orjson writes it about five times faster than ``json.dumps`` (on the
    ingest path that was a tenth of the CPU of a batch); what orjson refuses, integers beyond 64
    bits (valid input, e.g. in extensions), falls back to the standard library, whose output
    parses to the same value."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
