"""Attachment objects (the ``attachments`` property of a statement).

xAPI 1.0.3 Data 2.4.11 (Attachments):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#2411-attachments
IEEE 9274.1.1 (xAPI 2.0) 4.2.2.6 (Attachments table).

Properties: ``usageType`` (IRI, required), ``display`` (Language Map, required),
``description`` (Language Map), ``contentType`` (Internet Media Type, required),
``length`` (Integer, octets, required), ``sha2`` (String, "The SHA-2 hash of the
Attachment data ... always required, even if fileURL is also specified"),
``fileUrl`` (IRL, optional).

Decisions: ``length`` must be a non-negative JSON integer; ``sha2`` must be the
hexadecimal digest of a SHA-2 function (56, 64, 96 or 128 hex digits, as sent in
the ``X-Experience-API-Hash`` part header); ``contentType`` must look like
``type/subtype`` with optional parameters (RFC 2045). Whether an attachment
without ``fileUrl`` has a matching multipart part is checked by the HTTP layer.
"""

from __future__ import annotations

import re
from typing import Any

from lrs.xapi.iris import is_iri, is_irl
from lrs.xapi.json_types import (
    check_properties,
    fail,
    require_array,
    require_object,
    require_string,
    short,
    wrong_type,
)
from lrs.xapi.language_maps import validate_language_map

_PROPERTIES = frozenset({"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"})
_REQUIRED = ("usageType", "display", "contentType", "length", "sha2")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:\s*;.*)?\Z", re.DOTALL)
_SHA2 = re.compile(r"(?:[0-9A-Fa-f]{56}|[0-9A-Fa-f]{64}|[0-9A-Fa-f]{96}|[0-9A-Fa-f]{128})\Z")

SIGNATURE_USAGE_TYPE = "http://adlnet.gov/expapi/attachments/signature"


def validate_attachment(obj: object, *, path: str) -> dict[str, Any]:
    attachment = require_object(obj, path)
    check_properties(attachment, path, _PROPERTIES, _REQUIRED, what="an Attachment")
    usage_type = require_string(attachment["usageType"], f"{path}.usageType")
    if not is_iri(usage_type):
        fail(f"usageType must be an absolute IRI, got {short(usage_type)}", f"{path}.usageType", "iri")
    validate_language_map(attachment["display"], path=f"{path}.display")
    if "description" in attachment:
        validate_language_map(attachment["description"], path=f"{path}.description")
    content_type = require_string(attachment["contentType"], f"{path}.contentType")
    if not _MEDIA_TYPE.match(content_type):
        fail(
            f"contentType must be an Internet Media Type such as 'text/plain', got {short(content_type)}",
            f"{path}.contentType",
            "content-type",
        )
    length = attachment["length"]
    if type(length) is not int:
        wrong_type("an integer (octets)", length, f"{path}.length")
    if length < 0:
        fail(f"length must not be negative, got {length}", f"{path}.length", "range")
    sha2 = require_string(attachment["sha2"], f"{path}.sha2")
    if not _SHA2.match(sha2):
        fail(
            f"sha2 must be the hexadecimal SHA-2 digest of the attachment data, got {short(sha2)}",
            f"{path}.sha2",
            "sha2",
        )
    if "fileUrl" in attachment:
        file_url = require_string(attachment["fileUrl"], f"{path}.fileUrl")
        if not is_irl(file_url):
            fail(
                f"fileUrl must be an IRL such as 'https://example.com/file.pdf', got {short(file_url)}",
                f"{path}.fileUrl",
                "irl",
            )
    return attachment


def validate_attachments(obj: object, *, path: str) -> list[Any]:
    attachments = require_array(obj, path)
    for index, attachment in enumerate(attachments):
        validate_attachment(attachment, path=f"{path}[{index}]")
    return attachments
