"""The request bodies of the identity and privacy APIs read as strictly as the xAPI resources read
theirs (``lrs.api.request.parse_json``): UTF-8, nested no deeper than ``LRS_MAX_JSON_DEPTH``, no
property twice, no NaN, no lone surrogate escape. DRF's own JSON parser ran out of stack on deep
nesting (a 500), kept the last of a repeated property silently (an erasure naming ``agent`` twice
erased the second person alone) and passed lone surrogates on to the database (a 500).

A refusal is a 400 in these APIs' shape, ``{place: ["<message> (rule <rule>)"]}``: the place a
property path (``agent.account.name``), ``body`` for the body as a whole, or ``line N`` of NDJSON.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from lrs.api.request import parse_json
from lrs.xapi import json_limits
from lrs.xapi.charsets import statements_text
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import parse_json as strict_json


def refusal(error: XAPIValidationError) -> ParseError:
    """The 400 of these APIs for an xAPI-style error: keyed by its place, naming its rule."""
    place = error.path.removeprefix("body.") or "body"
    return ParseError({place: [f"{error.message} (rule {error.rule})"]})


class StrictJSONParser(BaseParser):
    """``application/json``, read as the xAPI resources read a JSON body."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        try:
            return parse_json(stream.read())
        except XAPIValidationError as error:
            raise refusal(error) from None


class NdjsonParser(BaseParser):
    """``application/x-ndjson``: one row object per line, each read as strictly (place ``line N``)."""

    media_type = "application/x-ndjson"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> list[Any]:
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        try:
            text = statements_text(stream.read(), path="body", what="the body")
            return [
                strict_json(line, path=f"line {number}")
                for number, line in enumerate(text.splitlines(), start=1)
                if line.strip()
            ]
        except XAPIValidationError as error:
            raise refusal(error) from None
