"""The form a validated statement is stored in.

xAPI 1.0.3 Data 2.4.6.2 (ContextActivities Property): "The LRS MUST return every
value in the contextActivities Object as an array, even if it arrived as a
single Activity Object" and "MUST return single Activity Objects as an array of
length one containing the same Activity."
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2462-contextactivities-property
Data 2.3.1 / 4.5: timestamps may be returned "in a different timezone ... so long
as the point in time referenced is not affected", the LRS "SHOULD* return the
Timestamp in UTC", and "A Timestamp MAY be truncated ... to a precision of at
least 3 decimal digits"; IEEE 9274.1.1 (xAPI 2.0) 4.2.7: "An LRS shall convert
Timestamps to UTC".

Everything else is kept exactly as sent. In particular an Activity without
``objectType`` stays without it: Data 2.4.4 only says the objectType "is assumed
to be Activity", and Data 2.2 forbids returning "a different serialization of
any properties except those listed as exceptions". The LRS-assigned properties
(``id``, ``stored``, ``authority``, ``version``, default ``timestamp``) are the
caller's job.
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.timestamps import format_timestamp, parse_timestamp


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (much faster than copy.deepcopy)."""
    kind = type(value)
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return value


def _normalise_in_place(statement: dict[str, Any]) -> None:
    context = statement.get("context")
    if type(context) is dict:
        context_activities = context.get("contextActivities")
        if type(context_activities) is dict:
            for kind, value in context_activities.items():
                if type(value) is dict:
                    context_activities[kind] = [value]
    timestamp = statement.get("timestamp")
    if type(timestamp) is str:
        # Lenient (1.0.3) parsing: the statement was validated with the request's rules already.
        statement["timestamp"] = format_timestamp(parse_timestamp(timestamp, path="statement.timestamp"))
    statement_object = statement.get("object")
    if type(statement_object) is dict and statement_object.get("objectType") == "SubStatement":
        _normalise_in_place(statement_object)


def statement_normalise(statement: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a validated statement with contextActivities as arrays and timestamps in UTC.

    Applies to the statement and to a SubStatement object. The timestamp becomes
    the canonical ``YYYY-MM-DDThh:mm:ss.ffffffZ`` form of :func:`format_timestamp`.
    """
    normalised = _copy(statement)
    _normalise_in_place(normalised)
    return normalised
