"""Statement References (object of a statement, ``context.statement``).

xAPI 1.0.3 Data 2.4.4.3 (When the "Object" is a Statement - Statement
References): "A Statement Reference MUST specify an "objectType" property with
the value StatementRef" and "MUST set the "id" property to the UUID of a
Statement. There is no requirement for the LRS to validate that the UUID matches
a Statement that exists."
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2443-when-the-object-is-a-statement
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.3 "Object As Statement Table" is identical.
"""

from __future__ import annotations

from typing import Any

from lrs.xapi.json_types import check_properties, fail, require_object, short
from lrs.xapi.uuids import is_uuid, validate_uuid

_PROPERTIES = frozenset({"objectType", "id"})
_REQUIRED = ("objectType", "id")


def validate_statement_ref(obj: object, *, path: str) -> dict[str, Any]:
    ref = obj if type(obj) is dict else require_object(obj, path)
    check_properties(ref, path, _PROPERTIES, _REQUIRED, what="a StatementRef")
    if ref["objectType"] != "StatementRef":
        fail(
            f"objectType must be 'StatementRef', got {short(ref['objectType'])}",
            f"{path}.objectType",
            "objecttype",
        )
    if not is_uuid(ref["id"]):
        validate_uuid(ref["id"], path=f"{path}.id")
    return ref
