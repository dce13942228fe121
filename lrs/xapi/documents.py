"""Documents: the rules shared by the State, Activity Profile and Agent Profile resources.

xAPI 1.0.3 Communication 2.2 (Document Resources) and 3.1 (Concurrency):
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#22-document-resources
IEEE 9274.1.1 (xAPI 2.0) 4.1.4 (Concurrency) and 4.1.6.2/5/6.

* **ETag** (1.0.3 3.1): "a hexadecimal string of the SHA-1 digest of the
  contents", lower case, "enclosed in quotes". 2.0 keeps the header and drops the
  algorithm; the SHA-1 is kept for both versions.
* **If-Match / If-None-Match** are evaluated as in RFC 7232 section 3: If-Match
  first (``*`` means "a document exists", else one of the listed tags must be the
  current one), then If-None-Match (``*`` means "no document exists", else none
  of the listed tags may be the current one). A failed precondition is 412 and
  changes nothing. Tags are compared by their opaque value, ignoring a ``W/``
  prefix and, leniently, missing quotes (a proxy that compresses responses may
  weaken the tag a client echoes back).
* **PUT without either header** (``put_requires_precondition``): 1.0.3 3.1 "The
  State Resource will permit PUT, POST and DELETE requests without concurrency
  headers" and "A Client making a PUT request to either the Agent Profile
  Resource or Activity Profile Resource MUST include the If-Match header or the
  If-None-Match header"; "If a PUT request is received without either header
  for a resource that already exists, the LRS: MUST return HTTP status 409
  Conflict ... MUST NOT make a modification to the resource". So in 1.0.3 a
  profile PUT without either header is 409 when the document exists and 400 (a
  missing required argument, 3.2) when it does not, and State is exempt. 2.0
  4.1.4 lists State among the concurrency-controlled resources and keeps only
  the 409 rule, which then applies to all three resources.
* **JSON merge** (1.0.3 2.2 "JSON Procedure with Requirements"): a POST of
  ``application/json`` onto an existing ``application/json`` document sets each
  top-level property of the posted object on the stored object. "If the document
  being posted or any existing document does not have a Content-Type of
  application/json, or if either document cannot be parsed as a JSON Object, the
  LRS MUST respond with HTTP status code 400 Bad Request, and MUST NOT update the
  target document".
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from lrs.xapi.errors import XAPIConflict, XAPIPreconditionFailed, XAPIValidationError
from lrs.xapi.json_limits import check_depth, too_deep
from lrs.xapi.json_types import reject_unwritable
from lrs.xapi.versions import is_v2

JSON_MEDIA_TYPE = "application/json"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE_LENGTH = 255
# A media type with optional parameters in printable ASCII (RFC 9110 8.3).
_CONTENT_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*;[ -~\t]*)?\Z")
_ENTITY_TAG = re.compile(r'\s*(?:W/)?"([^"]*)"\s*(?:,|\Z)|\s*([^\s,"]+)\s*(?:,|\Z)')


class DocumentKind(StrEnum):
    STATE = "state"
    ACTIVITY_PROFILE = "activity_profile"
    AGENT_PROFILE = "agent_profile"


def etag_for(content: bytes) -> str:
    """The quoted lower-case SHA-1 hex digest of the content: ``"<40 hex>"``."""
    return f'"{hashlib.sha1(content, usedforsecurity=False).hexdigest()}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"').lower()


def parse_entity_tags(header: str, *, path: str) -> tuple[str, ...] | None:
    """Parse If-Match / If-None-Match: None for ``*``, else the opaque tags (unquoted, lower case)."""
    value = header.strip()
    if value == "*":
        return None
    tags: list[str] = []
    position = 0
    while position < len(value):
        match = _ENTITY_TAG.match(value, position)
        if match is None or match.end() == position:
            raise XAPIValidationError(
                f'must be "*" or a comma-separated list of quoted entity tags, got {value[:80]!r}',
                path=path,
                rule="entity-tag",
            )
        tags.append((match.group(1) if match.group(1) is not None else match.group(2)).lower())
        position = match.end()
    return tuple(tags)


@dataclass(frozen=True)
class Preconditions:
    """The concurrency headers of a request. ``None`` inside a present header means ``*``."""

    if_match_present: bool = False
    if_match: tuple[str, ...] | None = None
    if_none_match_present: bool = False
    if_none_match: tuple[str, ...] | None = None

    @classmethod
    def from_headers(cls, if_match: str | None, if_none_match: str | None) -> Preconditions:
        match_present = bool(if_match and if_match.strip())
        none_present = bool(if_none_match and if_none_match.strip())
        return cls(
            if_match_present=match_present,
            if_match=parse_entity_tags(if_match or "", path="If-Match") if match_present else None,
            if_none_match_present=none_present,
            if_none_match=(
                parse_entity_tags(if_none_match or "", path="If-None-Match") if none_present else None
            ),
        )

    @property
    def any(self) -> bool:
        return self.if_match_present or self.if_none_match_present


def _failed(message: str, header: str) -> NoReturn:
    raise XAPIPreconditionFailed(message, path=header, rule="precondition")


def check_preconditions(current_etag: str | None, preconditions: Preconditions) -> None:
    """412 unless the headers agree with the stored document (``current_etag`` None: there is none)."""
    current = _opaque(current_etag) if current_etag is not None else None
    if preconditions.if_match_present:
        if current is None:
            _failed("If-Match was sent but there is no such document", "If-Match")
        tags = preconditions.if_match
        if tags is not None and current not in tags:
            _failed(
                f"the document has changed: its ETag is {current_etag}, not the one in If-Match; "
                "GET the document again and retry with its current ETag",
                "If-Match",
            )
    if preconditions.if_none_match_present and current is not None:
        tags = preconditions.if_none_match
        if tags is None:
            _failed("If-None-Match: * was sent but the document already exists", "If-None-Match")
        if current in tags:
            _failed(f"the document's ETag {current_etag} is listed in If-None-Match", "If-None-Match")


def if_none_match_hits(current_etag: str, preconditions: Preconditions) -> bool:
    """For a GET: True when If-None-Match names the current representation (answer 304)."""
    if not preconditions.if_none_match_present:
        return False
    tags = preconditions.if_none_match
    return tags is None or _opaque(current_etag) in tags


def check_put_without_preconditions(
    *, kind: DocumentKind, version: str, exists: bool, preconditions: Preconditions
) -> None:
    """The Communication 3.1 / 4.1.4 rule for a PUT that sends neither If-Match nor If-None-Match."""
    if preconditions.any:
        return
    if kind is DocumentKind.STATE and not is_v2(version):
        return  # 1.0.3 3.1: the State Resource permits PUT without concurrency headers
    if exists:
        raise XAPIConflict(
            "a document with this id already exists and the PUT carried neither If-Match nor "
            "If-None-Match. Check the current state of the document (GET it), then repeat the PUT "
            "with an If-Match header holding its current ETag to overwrite it "
            "(or If-None-Match: * to create a document only when none exists)",
            path="If-Match",
            rule="concurrency-header-required",
        )
    if not is_v2(version):
        raise XAPIValidationError(
            "a PUT to a profile resource must include an If-Match or If-None-Match header "
            "(xAPI 1.0.3 Communication 3.1); send If-None-Match: * to create a new document",
            path="If-None-Match",
            rule="concurrency-header-required",
        )


def content_type_of(raw: str | None) -> str:
    """The Content-Type to store and return unchanged; absent means ``application/octet-stream``."""
    value = (raw or "").strip()
    if not value:
        return DEFAULT_CONTENT_TYPE
    if len(value) > MAX_CONTENT_TYPE_LENGTH or not _CONTENT_TYPE.match(value):
        raise XAPIValidationError(
            f"Content-Type must be a media type such as application/json, got {value[:80]!r}",
            path="Content-Type",
            rule="content-type",
        )
    return value


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == JSON_MEDIA_TYPE


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_document(content: bytes, *, path: str) -> Any:
    """Parse a document sent as application/json (UTF-8, BOM allowed); invalid JSON, or JSON
    nested deeper than the limit (:mod:`lrs.xapi.json_limits`), is a 400."""
    check_depth(content, path=path)
    try:
        return json.loads(content.decode("utf-8-sig"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise XAPIValidationError(
            "the document is declared application/json but is not UTF-8 text", path=path, rule="utf-8"
        ) from None
    except ValueError as exc:
        raise XAPIValidationError(
            f"the document is declared application/json but is not valid JSON ({exc})", path=path, rule="json"
        ) from None
    except RecursionError:
        raise too_deep(path) from None


def serialize_json(value: Any) -> bytes:
    """Compact JSON text as UTF-8; ValueError for an infinite number, UnicodeEncodeError for an
    unpaired surrogate (neither is JSON text)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def merge_json_documents(
    *, existing: bytes, existing_content_type: str, posted: bytes, posted_content_type: str
) -> bytes:
    """The stored bytes after a POST onto an existing document (top-level JSON merge), or a 400."""
    if not is_json(posted_content_type):
        raise XAPIValidationError(
            f"a POST onto an existing document merges JSON objects; this one is {posted_content_type!r}, "
            "not application/json (use PUT to replace the document)",
            path="Content-Type",
            rule="merge-content-type",
        )
    if not is_json(existing_content_type):
        raise XAPIValidationError(
            f"the stored document is {existing_content_type!r}, not application/json, so it cannot be "
            "merged with the posted JSON (use PUT to replace it)",
            path="Content-Type",
            rule="merge-content-type",
        )
    new = parse_json_document(posted, path="body")
    if type(new) is not dict:
        raise XAPIValidationError(
            "a POST onto an existing document must be a JSON object (its top-level properties are merged)",
            path="body",
            rule="merge-object",
        )
    try:
        old = parse_json_document(existing, path="document")
    except XAPIValidationError:
        old = None
    if type(old) is not dict:
        raise XAPIValidationError(
            "the stored document is not a JSON object, so it cannot be merged (use PUT to replace it)",
            path="document",
            rule="merge-object",
        )
    merged = {**old, **new}
    try:
        return serialize_json(merged)
    except (ValueError, UnicodeEncodeError):
        # The merge writes its result as JSON text again (a PUT stores the bytes as sent): a value
        # that cannot be (1e400 read as infinity, an unpaired surrogate) is a 400 naming where it
        # came from, not a stored Infinity or a 500. A stored one the body replaces does not count.
        for key, value in merged.items():
            reject_unwritable({key: value}, "body" if key in new else "document")
        raise
