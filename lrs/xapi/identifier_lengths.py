"""How long an identifier the LRS indexes may be: verb and activity ids, agent identifiers (IFIs),
and the key of a document (activityId + agent + stateId / profileId).

xAPI sets no limit on the length of an IRI, and neither does RFC 3987; the LRS stores these
identifiers as text and looks statements and documents up by them through B-tree indexes.
PostgreSQL caps an index row at 2704 bytes (a third of a page), after compressing it: whether a
3 KB identifier fitted depended on how well it compressed, and one that did not failed in the
database, a 500 for a statement and a 503 ("send it again later", forever) for a document. So
the LRS sets a limit, the same on every database, and a longer identifier is a 400 naming it
(rule ``identifier-length``), as xAPI 1.0.3 Communication 3.2 wants of a request the LRS cannot
accept: https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#32-error-codes

- an identifier (a verb or activity id, an mbox or openid, an account's homePage and name
  together): at most :data:`MAX_IDENTIFIER_BYTES` bytes of UTF-8; an index row holds one with the
  ``stored`` time and row id;
- a document key: its activityId, agent identifier and document id together at most
  :data:`MAX_DOCUMENT_KEY_BYTES`, the document tables' indexes holding them in one row.
"""

from __future__ import annotations

from collections.abc import Sequence

from lrs.xapi.json_types import fail

MAX_IDENTIFIER_BYTES = 2048
MAX_DOCUMENT_KEY_BYTES = 2560


def _utf8_length(value: str) -> int:
    # Up to 4 bytes a character: most identifiers are short enough not to need encoding.
    return (
        len(value) if len(value) * 4 <= MAX_IDENTIFIER_BYTES else len(value.encode("utf-8", "surrogatepass"))
    )


def check_identifier_length(value: str, path: str, what: str) -> None:
    """A 400 (rule ``identifier-length``) for an identifier longer than the LRS indexes."""
    length = _utf8_length(value)
    if length > MAX_IDENTIFIER_BYTES:
        fail(
            f"{what} is {length} bytes long (UTF-8); this LRS indexes identifiers of at most "
            f"{MAX_IDENTIFIER_BYTES} bytes",
            path,
            "identifier-length",
        )


def check_document_key_length(parts: Sequence[tuple[str, str]]) -> None:
    """A 400 naming the longest part (a parameter name) when a document key is longer than the
    document indexes hold; ``parts`` are (parameter name, value as stored)."""
    lengths = [(len(value.encode("utf-8", "surrogatepass")), name) for name, value in parts]
    total = sum(length for length, _name in lengths)
    if total > MAX_DOCUMENT_KEY_BYTES:
        longest = max(lengths)[1]
        fail(
            f"the document's key ({', '.join(name for name, _value in parts)}) is {total} bytes long "
            f"(UTF-8); this LRS indexes document keys of at most {MAX_DOCUMENT_KEY_BYTES} bytes. "
            f"{longest} is the longest part",
            longest,
            "identifier-length",
        )
