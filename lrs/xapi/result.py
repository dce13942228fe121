"""Result and Score.

xAPI 1.0.3 Data 2.4.5 (Result) and 2.4.5.1 (Score):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#245-result
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.4 (Result and Score tables).

* Result: ``score`` (object), ``success`` and ``completion`` (booleans),
  ``response`` (string), ``duration`` (ISO 8601 duration), ``extensions``.
* Score: ``scaled`` is a "Decimal number between -1 and 1, inclusive"; ``raw`` a
  "Decimal number between min and max (if present, otherwise unrestricted),
  inclusive"; ``min`` a "Decimal number less than max (if present)"; ``max`` a
  "Decimal number greater than min (if present)" (rule ``score-range``).
* Data 2.2: strings are not numbers or booleans, "even if those strings contain
  numbers"; JSON ``true`` is not a number either.
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.durations import validate_duration
from lrs.xapi.extensions import validate_extensions
from lrs.xapi.json_types import (
    check_properties,
    fail,
    require_boolean,
    require_number,
    require_object,
    require_string,
)
from lrs.xapi.valid_memo import remembers_valid

_RESULT_PROPERTIES = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
_SCORE_PROPERTIES = frozenset({"scaled", "raw", "min", "max"})


def validate_score(obj: object, *, path: str) -> dict[str, Any]:
    score = require_object(obj, path)
    check_properties(score, path, _SCORE_PROPERTIES, what="a Score")
    numbers = {name: require_number(value, f"{path}.{name}") for name, value in score.items()}
    scaled = numbers.get("scaled")
    if scaled is not None and not -1 <= scaled <= 1:
        fail(f"scaled must be between -1 and 1 inclusive, got {scaled}", f"{path}.scaled", "score-range")
    low, high, raw = numbers.get("min"), numbers.get("max"), numbers.get("raw")
    if low is not None and high is not None and not low < high:
        fail(f"min ({low}) must be less than max ({high})", f"{path}.min", "score-range")
    if raw is not None:
        if low is not None and raw < low:
            fail(f"raw ({raw}) must not be less than min ({low})", f"{path}.raw", "score-range")
        if high is not None and raw > high:
            fail(f"raw ({raw}) must not be greater than max ({high})", f"{path}.raw", "score-range")
    return score


@remembers_valid()
def validate_result(obj: object, *, path: str) -> dict[str, Any]:
    result = require_object(obj, path)
    check_properties(result, path, _RESULT_PROPERTIES, what="a Result")
    if "score" in result:
        validate_score(result["score"], path=f"{path}.score")
    if "success" in result:
        require_boolean(result["success"], f"{path}.success")
    if "completion" in result:
        require_boolean(result["completion"], f"{path}.completion")
    if "response" in result:
        require_string(result["response"], f"{path}.response")
    if "duration" in result:
        validate_duration(result["duration"], path=f"{path}.duration")
    if "extensions" in result:
        validate_extensions(result["extensions"], path=f"{path}.extensions")
    return result
