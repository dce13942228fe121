"""The Statements resource: ``/xapi/statements``.

xAPI 1.0.3 Communication 2.1:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#21-statement-resource
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import http_date

from lrs.api.base import XAPIView, json_response, reject_unknown_params
from lrs.api.request import XAPIRequest
from lrs.api.statement_params import (
    LIST_PARAMS,
    SINGLE_PARAMS,
    encode_cursor,
    parse_bool,
    parse_format,
    statement_query_from_params,
)
from lrs.attachment_store import attachment_store
from lrs.credentials import scopes
from lrs.statements.indexing import attachment_hashes, statement_attachment_hashes
from lrs.statements.selectors import (
    StatementPage,
    StatementQuery,
    consistent_through,
    statement_get,
    statement_list,
)
from lrs.statements.store import statement_store
from lrs.xapi.charsets import check_statements_charset
from lrs.xapi.errors import XAPINotFound, XAPIValidationError
from lrs.xapi.formats import parse_accept_language
from lrs.xapi.multipart import AttachmentPart, build_multipart_response, parse_statement_request
from lrs.xapi.statement import body_path, validate_statements
from lrs.xapi.timestamps import format_timestamp
from lrs.xapi.uuids import parse_uuid

STATEMENT_CONTENT_TYPES = {"application/json"}
# How long an ascending page with nothing yet in order waits for writers (``_page_in_order``).
CONSISTENCY_WAIT_SECONDS = 1.0


def _statements_body(request: XAPIRequest) -> tuple[Any, list[AttachmentPart]]:
    """The statement(s) and, for multipart/mixed requests, the attachment parts (Communication 1.5)."""
    if request.content_type == "multipart/mixed":
        header = request.header("Content-Type") or ""
        return parse_statement_request(request.body, header)
    if request.content_type not in STATEMENT_CONTENT_TYPES:
        raise XAPIValidationError(
            "Content-Type must be application/json or multipart/mixed, "
            f"got {request.content_type or 'none'!r}",
            path="Content-Type",
            rule="content-type",
        )
    check_statements_charset(
        request.header("Content-Type") or "", request.body, path="Content-Type", what="the statements body"
    )
    return request.json_body(path=body_path(request.body)), []


def _store(
    request: XAPIRequest, statements: list[Any], parts: list[AttachmentPart], *, as_array: bool
) -> list[str]:
    """``statement_store``, answering a rejected batch with every validation error of every
    statement (``errors``), not only the first statement's: the store stops at the first invalid
    statement, so only then is the whole batch validated again, collecting."""
    try:
        return statement_store(
            statements=statements,
            credential=request.credential,
            version=request.version,
            attachments=parts,
            as_array=as_array,
        )
    except XAPIValidationError as error:
        if len(statements) < 2:
            raise
        try:
            validate_statements(statements, version=request.version)
        except XAPIValidationError as everything:
            if (everything.path, everything.rule) == (error.path, error.rule):
                raise everything from None
        raise


def _response(json_text: str, sha2s: list[str]) -> HttpResponse:
    """JSON, or multipart/mixed with the attachment parts after it when they were asked for."""
    if not sha2s:
        return json_response(None, text=json_text)
    found = attachment_store().get_many(sha2s)
    body, content_type = build_multipart_response(json_text, [found[sha2] for sha2 in sha2s if sha2 in found])
    return HttpResponse(body, content_type=content_type)


class StatementsView(XAPIView):
    scopes = {
        "get": (scopes.STATEMENTS_READ_MINE,),
        "put": (scopes.STATEMENTS_WRITE,),
        "post": (scopes.STATEMENTS_WRITE,),
    }
    # Both write through lrs.statements.store, which checks the credential as it writes.
    credential_checked_by_write = ("POST", "PUT")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().dispatch(request, *args, **kwargs)
        refused = response.status_code in {401, 403}
        if (
            request.method in {"GET", "HEAD"}
            and not refused
            and "X-Experience-API-Consistent-Through" not in response
        ):
            # Clients poll with it even on 400/404 answers (the ADL suite's genDelay does). Not on a
            # refusal (401, 403): a caller that may not read is told nothing of the store (4.1).
            response["X-Experience-API-Consistent-Through"] = format_timestamp(consistent_through())
        return response

    def put(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, {"statementId"})
        if "statementId" not in request.params:
            raise XAPIValidationError(
                "PUT requires the statementId parameter", path="statementId", rule="required"
            )
        statement_id = parse_uuid(request.params["statementId"], path="statementId")
        statement, parts = _statements_body(request)
        request.statement_count = 1
        if isinstance(statement, list):  # Communication 2.1.1: PUT stores the one statement it names
            raise XAPIValidationError(
                "PUT takes one statement (a JSON object), not an array: POST sends several",
                path="statement",
                rule="type",
            )
        if isinstance(statement, dict):
            if "id" in statement and str(statement["id"]).lower() != str(statement_id):
                raise XAPIValidationError(
                    "the statement's id differs from the statementId parameter",
                    path="statement.id",
                    rule="id-matches-parameter",
                )
            statement = {**statement, "id": str(statement_id)} if "id" not in statement else statement
        _store(request, [statement], parts, as_array=False)
        return HttpResponse(status=204)

    def post(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, set())
        body, parts = _statements_body(request)
        statements = body if isinstance(body, list) else [body]
        request.statement_count = len(statements)
        ids = _store(request, statements, parts, as_array=isinstance(body, list))
        return json_response(ids)

    def get(self, request: XAPIRequest) -> HttpResponse:
        params = request.params
        if "statementId" in params or "voidedStatementId" in params:
            return self._get_one(request)
        reject_unknown_params(params, LIST_PARAMS)
        query = statement_query_from_params(
            params,
            version=request.version,
            accept_language=request.header("Accept-Language"),
            credential_id=request.reads_own_statements_only,
        )
        through, page = _page_in_order(query)
        more = ""
        if page.more_after is not None or page.held_back:
            next_params = {key: value for key, value in params.items() if key != "cursor"}
            if page.more_after is not None:
                next_params["cursor"] = encode_cursor(page.more_after)
            more = f"{reverse('xapi-statements')}?{urlencode(next_params)}"
        text = '{"statements":[' + ",".join(page.statements) + '],"more":' + json.dumps(more) + "}"
        response = _response(text, _servable(page.attachment_sha2s, page.statements, query.credential_id))
        response["X-Experience-API-Consistent-Through"] = format_timestamp(through)
        return response

    def _get_one(self, request: XAPIRequest) -> HttpResponse:
        params = request.params
        if "statementId" in params and "voidedStatementId" in params:
            raise XAPIValidationError(
                "send statementId or voidedStatementId, not both", path="voidedStatementId", rule="exclusive"
            )
        reject_unknown_params(params, SINGLE_PARAMS)
        voided = "voidedStatementId" in params
        name = "voidedStatementId" if voided else "statementId"
        statement_id = parse_uuid(params[name], path=name)
        with_attachments = parse_bool(params, "attachments")
        query = StatementQuery(
            version=request.version,
            format=parse_format(params),
            languages=tuple(_languages(request)),
            credential_id=request.reads_own_statements_only,
        )
        through = consistent_through()
        found = statement_get(statement_id=statement_id, voided=voided, query=query)
        if found is None:
            raise XAPINotFound(
                f"no {'voided ' if voided else ''}statement with id {statement_id}",
                path=name,
                rule="not-found",
            )
        text, row = found
        sha2s = attachment_hashes([row.payload]) if with_attachments else []
        response = _response(text, _servable(sha2s, [row.payload], query.credential_id))
        response["X-Experience-API-Consistent-Through"] = format_timestamp(through)
        response["Last-Modified"] = http_date(row.stored.timestamp())
        return response


def _page_in_order(query: StatementQuery) -> tuple[datetime, StatementPage]:
    """The Consistent-Through and the page it describes. Ascending, the page serves nothing stored
    after that time (Communication 2.1.3: every statement stored before it is available; one
    stored after it may still be behind a batch being written, and a client walking on from the
    last ``stored`` it saw, by ``more`` or ``since``, would pass it for good). Matches stored
    later are left to ``more``, which stays non-empty: an empty page with a ``more`` link means
    "more is stored, not yet in order: come back". Such a page is answered only after waiting up
    to CONSISTENCY_WAIT_SECONDS for the writers to finish, so a client following ``more`` in a
    loop does not spin, and a short write elsewhere rarely shows at all. Descending pages (the
    latest statements) are served at once; a poller reading them takes the page's
    Consistent-Through as its next ``since``.
    https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
    """
    deadline = time.monotonic() + CONSISTENCY_WAIT_SECONDS
    pause = 0.01
    while True:
        through = consistent_through()
        page = statement_list(query, through=through if query.ascending else None)
        if page.statements or not page.held_back or time.monotonic() >= deadline:
            return through, page
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _servable(sha2s: list[str], statements: list[str], mine_only: int | None) -> list[str]:
    """The attachment bytes a statements/read/mine credential may be sent: those its statements
    had to send themselves. An attachment with a fileUrl needs no part (Communication 1.5.2), so
    naming another statement's hash that way must not fetch that statement's bytes."""
    if mine_only is None or not sha2s:
        return sha2s
    sent: set[str] = set()
    for text in statements:
        sent.update(statement_attachment_hashes(json.loads(text), with_file_url=False))
    return [sha2 for sha2 in sha2s if sha2 in sent]


def _languages(request: XAPIRequest) -> list[str]:
    return parse_accept_language(request.header("Accept-Language") or "")
