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
``json`` or ``duplicate-property``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, NoReturn

from lrs.xapi.errors import XAPIValidationError

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
    """Reject unknown keys and null values, then missing required keys.

    Unknown keys are reported first (a misspelt key usually explains the missing
    one), with the path of the unknown key itself.
    """
    if not obj.keys() <= allowed or None in obj.values():  # the slow path finds which key and why
        for key, value in obj.items():
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
            fail(f"{what} requires {key!r}", child(path, key), "required")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str | bytes, *, path: str = "body") -> Any:
    """Parse JSON text strictly: duplicate keys and NaN/Infinity are rejected.

    Data 2.2: "A Statement MUST use each property no more than one time";
    IEEE 9274.1.1 4.2.1: "An LRS shall reject a Statement that uses a property
    more than once". The standard library keeps the last duplicate silently.
    """

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                fail(f"property {key!r} occurs more than once", child(path, key), "duplicate-property")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_reject_constant)
    except XAPIValidationError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"not valid JSON: {exc}", path, "json")
