"""Timestamps (statement ``timestamp`` and ``stored``, ``since``/``until`` parameters).

xAPI 1.0.3 Data 4.5 (ISO 8601 Timestamps):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#45-iso-8601-timestamps

* "A Timestamp MUST be formatted according to ISO 8601."
* "A Timestamp SHOULD* be expressed using the format described in RFC 3339".
* "A Timestamp SHOULD* include the time zone." (SHOULD*: not a MUST in 1.0.x, so
  a timestamp without an offset is accepted and read as UTC.)
* "A Timestamp MUST preserve precision to at least milliseconds"; "MAY be
  truncated or rounded to a precision of at least 3 decimal digits for seconds".
* "The LRS SHOULD* return the Timestamp in UTC timezone."

The ADL conformance suite (XAPI-00123) accepts ISO 8601 extended *or basic*
format and rejects the offsets ``-00``, ``-0000`` and ``-00:00`` (RFC 3339
4.3's "unknown local offset"). For 1.0.3 this module therefore accepts
``YYYY-MM-DDThh:mm[:ss[.fff]][offset]`` and ``YYYYMMDDThhmm[ss[.fff]][offset]``
(decimal sign ``.`` or ``,``; offset ``Z``, ``±hh``, ``±hhmm`` or ``±hh:mm``).

IEEE 9274.1.1 (xAPI 2.0) makes RFC 3339 mandatory ("A Timestamp shall be
expressed using the format described in RFC 3339", Content 5.2.7) and tells the
LRS to "convert Timestamps to UTC rather than rejecting Statements that send
Timestamps not in UTC form" (4.2.7). For 2.0 the RFC 3339 ``date-time``
production is required: ``YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)``, offset mandatory.

Both versions: ``T``/``Z`` may be lower case (RFC 3339 5.6), a leap second
(``:60``) is read as ``:59.999999``, and digits beyond microseconds are truncated.
Results are aware ``datetime`` objects in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NoReturn

from lrs.xapi.json_types import fail, require_string, short
from lrs.xapi.versions import is_v2

_OFFSET = r"(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)"


def _extended(separators: str) -> re.Pattern[str]:
    return re.compile(
        r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[" + separators + "]"
        r"(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
        r"(?:[.,](?P<fraction>\d+))?" + _OFFSET + r"?\Z",
        re.ASCII,
    )


_EXTENDED = _extended("Tt")
# Reading stored statements downstream (``read_timestamp``): a space may stand for the T too.
_EXTENDED_OR_SPACE = _extended("Tt ")
_BASIC = re.compile(
    r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})[Tt]"
    r"(?P<hour>\d{2})(?:(?P<minute>\d{2})(?P<second>\d{2})?)?"
    r"(?:[.,](?P<fraction>\d+))?" + r"(?P<offset>[Zz]|[+-]\d{2}(?:\d{2})?)?\Z",
    re.ASCII,
)
_RFC3339 = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d+))?(?P<offset>[Zz]|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)
_UNKNOWN_OFFSETS = frozenset({"-00", "-0000", "-00:00"})
_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)


def _invalid(value: str, path: str, version: str, reason: str = "") -> NoReturn:
    expected = (
        "an RFC 3339 date-time with offset, e.g. 2024-05-04T17:00:00.000Z"
        if is_v2(version)
        else "an ISO 8601 date and time, e.g. 2024-05-04T17:00:00.000Z"
    )
    detail = f" ({reason})" if reason else ""
    fail(f"must be {expected}, got {short(value)}{detail}", path, "iso8601")


@lru_cache(maxsize=512)
def _offset(offset_text: str) -> timedelta | None:
    """``+02:00`` -> 2 hours (the amount to subtract to reach UTC); None when out of range."""
    digits = offset_text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return delta if offset_text[0] == "+" else -delta


def _instant(groups: tuple, refuse: Callable[[str], NoReturn], *, unknown_offset_is_utc: bool) -> datetime:
    """The UTC instant of a matched timestamp's parts (year, month, day, hour, minute, second,
    fraction, offset); ``refuse(reason)`` raises for parts out of range."""
    year, month, day, hour_text, minute_text, second_text, fraction, offset_text = groups
    hour = int(hour_text)
    minute = int(minute_text) if minute_text is not None else 0
    second = int(second_text) if second_text is not None else 0
    if hour > 23 or minute > 59 or second > 60:
        refuse("time out of range")
    microsecond = 0
    if second == 60:  # a leap second: the last representable instant of that minute
        second, microsecond = 59, 999_999
    elif fraction is not None and second_text is not None:
        microsecond = int((fraction + "00000")[:6])
    try:
        moment = datetime(int(year), int(month), int(day), hour, minute, second, microsecond, tzinfo=UTC)
    except ValueError as exc:  # day out of range for month, year 0, ...
        refuse(str(exc))
    try:
        if fraction is not None and second_text is None:
            # ISO 8601 decimal fraction of the lowest-order component (hour or minute)
            unit = _MINUTE if minute_text is not None else _HOUR
            digits = fraction[:12]  # beyond a microsecond of an hour the digits do not matter
            moment += unit * int(digits) // (10 ** len(digits))
        if offset_text is not None and offset_text not in ("Z", "z"):
            if offset_text in _UNKNOWN_OFFSETS and not unknown_offset_is_utc:
                refuse("the offset -00:00 means an unknown local offset")
            delta = _offset(offset_text)
            if delta is None:
                refuse("offset out of range")
            moment -= delta
    except OverflowError:
        refuse("out of range")
    return moment


# The form nearly every client sends, valid in both versions: read by the standard library's C
# parser (``_common_form``), a third of the cost of the regular expressions and arithmetic below.
_COMMON = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z", re.ASCII
)


def _common_form(text: str) -> datetime | None:
    """The UTC instant of a timestamp in the common form (``_COMMON``), or None for anything else,
    including values out of range (a leap second, the 30th of February, ``-00:00``) that the
    careful path words the error for or reads its own way."""
    if _COMMON.match(text) is None or text.endswith("-00:00"):
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def parse_timestamp(value: object, *, path: str, version: str = "1.0.3") -> datetime:
    """Parse an xAPI Timestamp into an aware UTC datetime (microsecond precision, truncated)."""
    if type(value) is not str:
        require_string(value, path)
    common = _common_form(value)  # type: ignore[arg-type]
    return common if common is not None else _parse_careful(value, path, version)  # type: ignore[arg-type]


def _parse_careful(text: str, path: str, version: str) -> datetime:
    """Every form each version accepts, and an error naming what is wrong with the rest."""
    match = _RFC3339.match(text) if is_v2(version) else (_EXTENDED.match(text) or _BASIC.match(text))
    if match is None:
        _invalid(text, path, version)
    return _instant(
        match.groups(), lambda reason: _invalid(text, path, version, reason), unknown_offset_is_utc=False
    )


_READ_EXAMPLE = "e.g. 2024-05-04T17:00:00.000Z or 2024-05-04T22:30:00+05:30"


def _unreadable(value: object, reason: str = "") -> ValueError:
    detail = f" ({reason})" if reason else ""
    return ValueError(f"not an ISO 8601 timestamp: {value!r}{detail}; expected {_READ_EXAMPLE}")


def read_timestamp(value: object) -> datetime:
    """An aware UTC datetime for a timestamp of a statement already stored, read leniently as a
    consumer should (the fan-out's rules): what ``parse_timestamp`` accepts in either version,
    plus surrounding whitespace, a space instead of ``T`` (RFC 3339 5.6 note) and ``-00:00`` read
    as UTC; a ``datetime`` is converted to UTC (a naive one taken to be UTC). Raises ValueError
    naming the value for anything else."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str):
        raise _unreadable(value, f"a {type(value).__name__}, not a string")
    text = value.strip()
    match = _EXTENDED_OR_SPACE.match(text) or _BASIC.match(text)
    if match is None:
        raise _unreadable(value)

    def refuse(reason: str) -> NoReturn:
        raise _unreadable(value, reason) from None

    return _instant(match.groups(), refuse, unknown_offset_is_utc=True)


def validate_timestamp(value: object, *, path: str, version: str = "1.0.3") -> None:
    parse_timestamp(value, path=path, version=version)


def format_timestamp(moment: datetime) -> str:
    """The canonical form this LRS returns: UTC, microseconds, ``Z`` (``2024-05-04T17:00:00.123456Z``).

    RFC 3339 (required by xAPI 2.0) and ISO 8601, in UTC as Data 4.5 recommends,
    with more than the required millisecond precision so that a ``stored`` value
    read back and used as ``since``/``until`` selects exactly the stored instant.
    A naive datetime is taken to be UTC.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


# UTC with seconds and at most microseconds, no leap second: most timestamps clients send. Its
# canonical form is a matter of padding the fraction (parsing and formatting cost more than
# anything else in normalising a statement).
_PLAIN_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:[0-5]\d(?:\.(\d{1,6}))?Z\Z", re.ASCII)


def canonical_timestamp(text: str, *, path: str = "timestamp") -> str:
    """``format_timestamp(parse_timestamp(text))`` for a timestamp already validated (lenient,
    1.0.3 rules, which accept every 2.0 form too)."""
    match = _PLAIN_UTC.match(text)
    if match is None:
        return format_timestamp(parse_timestamp(text, path=path))
    fraction = match.group(1) or ""
    return f"{text[:19]}.{fraction}{'0' * (6 - len(fraction))}Z"
