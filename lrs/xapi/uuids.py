"""UUIDs.

xAPI 1.0.3 Data 4.4 (UUIDs): "UUIDs MUST be in the standard string form. It is
recommended variant 2 in RFC 4122 is used." Data 2.4.1: "all versions of
variant 2 in RFC 4122 are valid, and the UUID MUST be in standard string form".
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#44-uuids
IEEE 9274.1.1 (xAPI 2.0) 4.2.7: "UUIDs shall be in the standard string form.
UUIDS should use variant 2 in RFC 4122."

The standard string form is ``8-4-4-4-12`` hexadecimal digits (either case).
Since the variant is only recommended, every variant and version is accepted
(including the nil UUID); braces, ``urn:uuid:`` prefixes and the 32-digit form
without hyphens are rejected.
"""

from __future__ import annotations

import re
import uuid

from lrs.xapi.json_types import fail, require_string, short

_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")


def is_uuid(value: object) -> bool:
    return type(value) is str and _UUID.match(value) is not None


def validate_uuid(value: object, *, path: str) -> str:
    """The value if it is a UUID in standard string form, else a 400 (rule ``uuid``)."""
    text = require_string(value, path)
    if not _UUID.match(text):
        fail(f"must be a UUID in standard string form (8-4-4-4-12 hex), got {short(text)}", path, "uuid")
    return text


def parse_uuid(value: object, *, path: str) -> uuid.UUID:
    """Parse a UUID in standard string form (statement ids, registrations, parameters)."""
    return uuid.UUID(validate_uuid(value, path=path))
