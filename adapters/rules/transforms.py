"""The named transforms of the marketplace field mapping (``adapters.rules.field_mapping``): the
``transform`` column of a mapping row names one, applied to the row's source value.

Pure Python: no Django, no database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from adapters.rules.emails import normalise_email
from adapters.rules.normalise import learning_completed, score_0_100, utc_date, utc_iso8601

DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)  # a plain YYYY-MM-DD date


def _to_int(value: Any) -> int:
    """An integer from an int, an integral float or a decimal string (``"3"``, ``"3.0"``)."""
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"not an integer: {value!r}")


def _list_of_strings(value: Any) -> list[str]:
    """A list of distinct non-blank strings (order kept) from a string or a list of strings/numbers."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a string or a list, got {type(value).__name__}")
    strings: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"list items must be strings, got {type(item).__name__}")
        text = str(item).strip()
        if text and text not in strings:
            strings.append(text)
    return strings


def _score(value: Any) -> float | None:
    """A 0-100 score from an xAPI score object (see ``score_0_100``) or a bare number (read as raw)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return score_0_100({"raw": value})
    if isinstance(value, dict):
        return score_0_100(value)
    raise ValueError(f"expected a score object or a number, got {type(value).__name__}")


def _iso_date(value: Any) -> str:
    """The UTC date of a timestamp, or a ``YYYY-MM-DD`` date as it is."""
    if isinstance(value, str) and DATE.match(value.strip()):
        return date.fromisoformat(value.strip()).isoformat()
    return utc_date(value)


_TRANSFORM_TABLE: tuple[tuple[str, Callable[[Any], Any], str | None], ...] = (
    # name, function, the data type it produces (None: whatever it is given)
    ("identity", lambda value: value, None),
    ("lowercase_email", normalise_email, "string"),
    ("normalize_score_0_100", _score, "number"),
    ("parse_iso8601", utc_iso8601, "datetime"),
    ("iso_date", _iso_date, "date"),
    ("bool_completed", learning_completed, "boolean"),
    ("to_int", _to_int, "integer"),
    ("list_of_strings", _list_of_strings, "array"),
)
#: Named transforms usable in the ``transform`` column: name -> function of the source value.
TRANSFORMS: Mapping[str, Callable[[Any], Any]] = MappingProxyType({n: f for n, f, _ in _TRANSFORM_TABLE})
PRODUCES: Mapping[str, str | None] = MappingProxyType({name: out for name, _, out in _TRANSFORM_TABLE})
