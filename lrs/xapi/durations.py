"""ISO 8601 durations (``result.duration``).

xAPI 1.0.3 Data 4.6 (ISO 8601 Durations):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#46-iso-8601-durations

* "A Duration MUST be expressed using the format for Duration in ISO
  8601:2004(E) section 4.4.3.2. The alternative format (... section 4.4.3.3)
  MUST NOT be used."
* "On receiving a Duration with more than 0.01 second precision, the LRS SHOULD*
  NOT reject the request but MAY truncate the "duration" property".
* "When comparing Durations, any precision beyond 0.01 second precision SHOULD*
  NOT be included in the comparison." (a SHALL in IEEE 9274.1.1 4.2.7)
* Data 2.3.1: the duration is "considered a string for purposes of Statement
  comparison" - units are never converted (``PT60S`` differs from ``PT1M``).

Section 4.4.3.2 formats: ``PnYnMnDTnHnMnS`` (any components may be omitted but
at least one is present; ``T`` precedes the time components and is followed by
at least one) and ``PnW`` on its own (so ``P4W1D`` is invalid). The lowest-order
component present may carry a decimal fraction with ``.`` or ``,``. Negative
durations and the 1.0.3 spec's example ``P16559.14S`` (no ``T``; corrected to
``PT16559.14S`` in later revisions of the spec) are rejected.
"""

from __future__ import annotations

import re

from lrs.xapi.json_types import fail, require_string, short

_NUMBER = r"([0-9]+(?:[.,][0-9]+)?)"
_DURATION = re.compile(
    rf"P(?!\Z)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}D)?"
    rf"(?:T(?=[0-9])(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?\Z"
)
_WEEKS = re.compile(rf"P{_NUMBER}W\Z")
_SECONDS = re.compile(r"(?<=[THM])([0-9]+)(?:[.,]([0-9]+))?S\Z")


def is_duration(value: object) -> bool:
    if type(value) is not str:
        return False
    match = _DURATION.match(value)
    if match is None:
        return _WEEKS.match(value) is not None
    components = [group for group in match.groups() if group is not None]
    # Only the lowest-order component present may have a fraction.
    return not any("." in part or "," in part for part in components[:-1])


def validate_duration(value: object, *, path: str) -> str:
    text = require_string(value, path)
    if not is_duration(text):
        fail(
            f"must be an ISO 8601 duration such as PT1H30M or PT4.25S (section 4.4.3.2), got {short(text)}",
            path,
            "duration",
        )
    return text


def duration_for_comparison(value: str) -> str:
    """The duration with its seconds reduced to 0.01 s precision (truncated, two digits).

    ``PT1.2399S``, ``PT1.23S`` and ``PT1.230S`` all become ``PT1.23S``; ``PT5S``
    becomes ``PT5.00S``. Other components are compared as written.
    """
    match = _SECONDS.search(value)
    if match is None:
        return value
    whole, fraction = match.group(1), match.group(2) or ""
    return f"{value[: match.start()]}{whole}.{(fraction + '00')[:2]}S"
