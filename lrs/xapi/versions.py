"""The ``X-Experience-API-Version`` header.

xAPI 1.0.3 Communication 3.3 (Versioning): every request carries the header; the
LRS answers 400 for a missing or unsupported one and sends its own version on
every response. ``1.0`` counts as ``1.0.0``; any ``1.0.x`` is served as 1.0.3.
xAPI 2.0 (IEEE 9274.1.1) uses ``2.0.0``.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#versioning
"""

from __future__ import annotations

import re

from lrs.xapi.errors import XAPIValidationError

V1 = "1.0.3"
V2 = "2.0.0"
SUPPORTED = (V1, V2)
_V1_PATTERN = re.compile(r"^1\.0(\.[0-9]+)?$")
_V2_PATTERN = re.compile(r"^2\.0(\.[0-9]+)?$")


def negotiate(header: str | None) -> str:
    """The version this LRS serves a request with that header, or a 400."""
    if header is None or not header.strip():
        raise XAPIValidationError(
            "the X-Experience-API-Version header is required",
            path="X-Experience-API-Version",
            rule="version-required",
        )
    value = header.strip()
    if _V1_PATTERN.match(value):
        return V1
    if _V2_PATTERN.match(value):
        return V2
    raise XAPIValidationError(
        f"unsupported xAPI version {value!r}; supported: {', '.join(SUPPORTED)}",
        path="X-Experience-API-Version",
        rule="version-unsupported",
    )


def is_v2(version: str) -> bool:
    return version.startswith("2.")
