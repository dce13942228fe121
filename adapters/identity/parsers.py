"""The request bodies of the identity and privacy APIs read as strictly as the xAPI resources read
theirs (``lrs.api.request.parse_json``'s rules): UTF-8, nested no deeper than ``LRS_MAX_JSON_DEPTH``, no
property twice, no NaN, no lone surrogate escape. DRF's own JSON parser ran out of stack on deep
nesting (a 500), kept the last of a repeated property silently (an erasure naming ``agent`` twice
erased the second person alone) and passed lone surrogates on to the database (a 500).

A refusal is a 400 in these APIs' shape, ``{place: ["<message> (rule <rule>)"]}``: the place a
property path (``agent.account.name``), ``body`` for the body as a whole, or ``line N`` of NDJSON.

A body is read in the charset its Content-Type declares, as DRF's parser read it (Django's
``request.encoding``; UTF-8 without one): a client sending ``charset=iso-8859-1`` was answered so
before this parser, and reading its bytes as UTF-8 instead refused it or, were they also UTF-8,
changed what it said. Bytes the declared charset cannot decode: rule ``charset``.
"""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from lrs.xapi import json_limits
from lrs.xapi.charsets import statements_text
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import fail
from lrs.xapi.json_types import parse_json as strict_json


def refusal(error: XAPIValidationError) -> ParseError:
    """The 400 of these APIs for an xAPI-style error: keyed by its place, naming its rule."""
    place = error.path.removeprefix("body.") or "body"
    return ParseError({place: [f"{error.message} (rule {error.rule})"]})


def body_text(data: bytes, parser_context: Any) -> str:
    """The body's text in its declared charset: UTF-8 as the xAPI resources read it (a byte order
    mark read past, rule ``utf-8``), any other charset Python knows decoded by it."""
    encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
    if codecs.lookup(encoding).name == "utf-8":
        return statements_text(data, path="body", what="the body")
    try:
        return data.decode(encoding)
    except (ValueError, LookupError):  # UnicodeError; LookupError: a transform (hex, zlib), no text
        pass  # refused below, outside the handler: the decode error is no context of the 400
    fail(f"the body is not {encoding[:40]} text, the charset its Content-Type declares", "body", "charset")


class StrictJSONParser(BaseParser):
    """``application/json``, read as the xAPI resources read a JSON body."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        try:
            text = body_text(stream.read(), parser_context)
            if not text.strip():  # as lrs.api.request.parse_json answers an empty body
                fail("the body is empty; a JSON document is required", "body", "required")
            return strict_json(text, path="body")
        except XAPIValidationError as error:
            raise refusal(error) from None


class NdjsonParser(BaseParser):
    """``application/x-ndjson``: one row object per line, each read as strictly (place ``line N``)."""

    media_type = "application/x-ndjson"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> list[Any]:
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        try:
            text = body_text(stream.read(), parser_context)
            return [
                strict_json(line, path=f"line {number}")
                for number, line in enumerate(text.splitlines(), start=1)
                if line.strip()
            ]
        except XAPIValidationError as error:
            raise refusal(error) from None
