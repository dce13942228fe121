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

from lrs.xapi.timestamps import canonical_timestamp


def _normalised(statement: dict[str, Any]) -> dict[str, Any]:
    """Copy-on-write: only the dicts that change are copied; the input is never modified."""
    result = dict(statement)
    context = result.get("context")
    if type(context) is dict:
        context_activities = context.get("contextActivities")
        if type(context_activities) is dict and any(type(v) is dict for v in context_activities.values()):
            result["context"] = {
                **context,
                "contextActivities": {
                    kind: [value] if type(value) is dict else value
                    for kind, value in context_activities.items()
                },
            }
    timestamp = result.get("timestamp")
    if type(timestamp) is str:
        # Lenient (1.0.3) parsing: the statement was validated with the request's rules already.
        result["timestamp"] = canonical_timestamp(timestamp, path="statement.timestamp")
    statement_object = result.get("object")
    if type(statement_object) is dict and statement_object.get("objectType") == "SubStatement":
        result["object"] = _normalised(statement_object)
    return result


def statement_normalise(statement: dict[str, Any]) -> dict[str, Any]:
    """A validated statement with contextActivities as arrays and timestamps in UTC.

    Applies to the statement and to a SubStatement object. The timestamp becomes
    the canonical ``YYYY-MM-DDThh:mm:ss.ffffffZ`` form of :func:`format_timestamp`.
    The input is not modified; parts that need no change are shared with it (callers
    treat stored statements as immutable).
    """
    return _normalised(statement)
