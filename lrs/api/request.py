"""``XAPIRequest``: an xAPI request as the views see it, whichever syntax it came in (a plain
HTTP request, or the 1.0.3 alternate syntax that ``lrs.api.alternate`` unwraps), and the strict
JSON reading of its body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from lrs.credentials import scopes
from lrs.credentials.models import Credential
from lrs.xapi import versions
from lrs.xapi.charsets import statements_text
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import parse_json as strict_json


@dataclass
class XAPIRequest:
    method: str
    params: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    credential: Credential | None = None
    version: str = versions.V1
    statement_count: int | None = None  # what a statements POST or PUT carried (for the request log)
    raw: HttpRequest | None = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def reads_own_statements_only(self) -> int | None:
        """The credential whose statements alone this request may read (``statements/read/mine``
        without ``statements/read``, Communication 4.2); None when it may read every statement."""
        credential = self.credential
        if credential is None or credential.allows(scopes.STATEMENTS_READ):
            return None
        return credential.id

    def json_body(self, *, path: str = "body") -> Any:
        return parse_json(self.body, path=path)


def parse_json(body: bytes, *, path: str = "body") -> Any:
    """Strict JSON (duplicate keys and NaN rejected, Data 2.2) from a UTF-8 request body."""
    text = statements_text(body, path=path, what="the body")
    if not text.strip():
        raise XAPIValidationError(
            "the body is empty; a JSON document is required", path=path, rule="required"
        )
    return strict_json(text, path=path)
