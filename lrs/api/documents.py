"""The document resources: ``/xapi/activities/state``, ``/xapi/activities/profile``, ``/xapi/agents/profile``.

xAPI 1.0.3 Communication 2.2 (Document Resources), 2.3 (State), 2.6 (Agent
Profile), 2.7 (Activity Profile), 3.1 (Concurrency); IEEE 9274.1.1 (xAPI 2.0)
4.1.4 and 4.1.6.2/5/6.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#22-document-resources

With the document id parameter (``stateId`` / ``profileId``) a request acts on
one document: GET returns its bytes with the stored Content-Type, ETag and
Last-Modified; PUT stores, POST stores or merges JSON, DELETE deletes. Without
it, GET returns the JSON array of ids (``since`` filters by last change,
exclusive) and, for State only, DELETE deletes every state of the activity +
agent (+ registration). Every parameter is validated and unknown ones are a
400 (Communication 3.2: "The LRS MUST reject with 400 Bad Request status any
requests that use any parameters which the LRS does not recognize in their
intended context").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import http_date

from lrs.api.base import XAPIView, json_response, reject_unknown_params
from lrs.api.request import XAPIRequest
from lrs.credentials import scopes
from lrs.documents.models import Document
from lrs.documents.selectors import DocumentContext, DocumentKey, document_get, document_ids
from lrs.documents.services import document_delete, document_post, document_put, documents_delete
from lrs.xapi.agents import agent_ifi, parse_agent_param
from lrs.xapi.documents import DocumentKind, Preconditions, content_type_of, etag_for, if_none_match_hits
from lrs.xapi.errors import XAPINotFound, XAPIValidationError
from lrs.xapi.identifier_lengths import check_document_key_length
from lrs.xapi.iris import is_iri
from lrs.xapi.timestamps import parse_timestamp
from lrs.xapi.uuids import parse_uuid

# Reads of documents: the resource's own scope, all/read or all (all implies every scope).
STATE_SCOPES = {
    "get": (scopes.STATE, scopes.ALL_READ),
    "put": (scopes.STATE,),
    "post": (scopes.STATE,),
    "delete": (scopes.STATE,),
}
PROFILE_SCOPES = {
    "get": (scopes.PROFILE, scopes.ALL_READ),
    "put": (scopes.PROFILE,),
    "post": (scopes.PROFILE,),
    "delete": (scopes.PROFILE,),
}


# --- parameters -----------------------------------------------------------------------------------


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise XAPIValidationError(f"the {name} parameter is required", path=name, rule="required")
    return value


def parse_activity_id(params: Mapping[str, str], name: str = "activityId") -> str:
    """``activityId``: required, an IRI (Data 2.2: parameters are validated like statement values)."""
    value = _required(params, name)
    if not is_iri(value):
        raise XAPIValidationError(
            f"{name} must be an absolute IRI such as 'http://example.com/activities/1', got {value[:80]!r}",
            path=name,
            rule="iri",
        )
    return value


def parse_agent(params: Mapping[str, str], *, allow_group: bool = False) -> dict[str, Any]:
    """``agent``: required, the JSON of an Agent with one IFI (or, where allowed, an identified Group).

    1.0.3 Communication 2.6: "The agent parameter is an Agent Object and not a
    Group. Learning Record Providers wishing to store data against an Identified
    Group can use the Identified Group's identifier within an Agent Object."
    """
    agent = parse_agent_param(_required(params, "agent"), path="agent")
    if agent.get("objectType") == "Group" and not allow_group:
        raise XAPIValidationError(
            "agent must be an Agent, not a Group; to address an identified Group, send its identifier "
            "in an Agent object",
            path="agent.objectType",
            rule="agent-not-group",
        )
    return agent


def parse_document_id(params: Mapping[str, str], name: str) -> str:
    value = _required(params, name)
    if not value:
        raise XAPIValidationError(f"{name} must not be empty", path=name, rule="required")
    return value


def _since(params: Mapping[str, str], version: str) -> datetime | None:
    if "since" not in params:
        return None
    return parse_timestamp(params["since"], path="since", version=version)


def _agent_ifi(params: Mapping[str, str], *, allow_group: bool) -> str:
    ifi = agent_ifi(parse_agent(params, allow_group=allow_group))
    if ifi is None:  # parse_agent_param guarantees one IFI; defensive
        raise XAPIValidationError("agent must have an identifier", path="agent", rule="one-ifi")
    return ifi


# --- responses ------------------------------------------------------------------------------------


def document_response(document: Document, request: XAPIRequest) -> HttpResponse:
    preconditions = Preconditions.from_headers(None, request.header("If-None-Match"))
    if if_none_match_hits(document.etag, preconditions):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(bytes(document.content), content_type=document.content_type)
    response["ETag"] = document.etag
    response["Last-Modified"] = http_date(document.updated.timestamp())
    return response


def ids_response(ids: list[str], last_modified: datetime | None) -> HttpResponse:
    body = json.dumps(ids, ensure_ascii=False)
    response = json_response(None, text=body)
    response["ETag"] = etag_for(body.encode("utf-8"))
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified.timestamp())
    return response


def _preconditions(request: XAPIRequest) -> Preconditions:
    return Preconditions.from_headers(request.header("If-Match"), request.header("If-None-Match"))


def _content_type(request: XAPIRequest) -> str:
    # The header exactly as sent (parameters included); with the alternate syntax, the form field
    # or the JSON default.
    return content_type_of(request.header("Content-Type") or request.content_type)


# --- views ----------------------------------------------------------------------------------------


class _DocumentView(XAPIView):
    """Shared GET/PUT/POST/DELETE; subclasses say how parameters map to a document key or context."""

    kind: DocumentKind
    id_param: str
    key_params: frozenset[str]  # the parameters naming the context, besides the id

    def key(self, request: XAPIRequest) -> DocumentKey:
        raise NotImplementedError

    def context(self, request: XAPIRequest) -> DocumentContext:
        raise NotImplementedError

    def get(self, request: XAPIRequest) -> HttpResponse:
        params = request.params
        if self.id_param in params:
            if "since" in params:
                raise XAPIValidationError(
                    f"since is only allowed when listing ids, not together with {self.id_param}",
                    path="since",
                    rule="since-with-id",
                )
            reject_unknown_params(params, self.key_params | {self.id_param})
            key = self.key(request)
            document = document_get(key)
            if document is None:
                raise XAPINotFound(
                    f"no document with {self.id_param} {key.document_id!r} here",
                    path=self.id_param,
                    rule="not-found",
                )
            return document_response(document, request)
        reject_unknown_params(params, self.key_params | {"since"})
        context = self.context(request)
        found = document_ids(context, since=_since(params, request.version))
        return ids_response(found.ids, found.last_modified)

    def put(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, self.key_params | {self.id_param})
        key = self.key(request)
        document_put(
            key=key,
            content=request.body,
            content_type=_content_type(request),
            preconditions=_preconditions(request),
            version=request.version,
        )
        return HttpResponse(status=204)

    def post(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, self.key_params | {self.id_param})
        key = self.key(request)
        document_post(
            key=key,
            content=request.body,
            content_type=_content_type(request),
            preconditions=_preconditions(request),
        )
        return HttpResponse(status=204)

    def delete(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, self.key_params | {self.id_param})
        document_delete(key=self.key(request), preconditions=_preconditions(request))
        return HttpResponse(status=204)


class StateView(_DocumentView):
    """``/xapi/activities/state``: activityId + agent [+ registration] + stateId (Communication 2.3)."""

    scopes = STATE_SCOPES
    kind = DocumentKind.STATE
    id_param = "stateId"
    key_params = frozenset({"activityId", "agent", "registration"})

    def _parts(self, request: XAPIRequest) -> tuple[str, str, Any]:
        params = request.params
        activity_id = parse_activity_id(params)
        ifi = _agent_ifi(params, allow_group=True)
        registration = (
            parse_uuid(params["registration"], path="registration") if "registration" in params else None
        )
        return activity_id, ifi, registration

    def key(self, request: XAPIRequest) -> DocumentKey:
        activity_id, ifi, registration = self._parts(request)
        document_id = parse_document_id(request.params, self.id_param)
        check_document_key_length((("activityId", activity_id), ("agent", ifi), (self.id_param, document_id)))
        return DocumentKey(
            kind=self.kind,
            activity_id=activity_id,
            agent_ifi=ifi,
            registration=registration,
            document_id=document_id,
        )

    def context(self, request: XAPIRequest) -> DocumentContext:
        activity_id, ifi, registration = self._parts(request)
        check_document_key_length((("activityId", activity_id), ("agent", ifi)))
        return DocumentContext(
            kind=self.kind, activity_id=activity_id, agent_ifi=ifi, registration=registration
        )

    def delete(self, request: XAPIRequest) -> HttpResponse:
        if self.id_param in request.params:
            return super().delete(request)
        # Communication 2.3 "Multiple Document DELETE": every state of the activity + agent [+ registration].
        reject_unknown_params(request.params, self.key_params)
        documents_delete(context=self.context(request), preconditions=_preconditions(request))
        return HttpResponse(status=204)


class ActivityProfileView(_DocumentView):
    """``/xapi/activities/profile``: activityId + profileId (Communication 2.7)."""

    scopes = PROFILE_SCOPES
    kind = DocumentKind.ACTIVITY_PROFILE
    id_param = "profileId"
    key_params = frozenset({"activityId"})

    def key(self, request: XAPIRequest) -> DocumentKey:
        activity_id = parse_activity_id(request.params)
        document_id = parse_document_id(request.params, self.id_param)
        check_document_key_length((("activityId", activity_id), (self.id_param, document_id)))
        return DocumentKey(kind=self.kind, activity_id=activity_id, document_id=document_id)

    def context(self, request: XAPIRequest) -> DocumentContext:
        return DocumentContext(kind=self.kind, activity_id=parse_activity_id(request.params))


class AgentProfileView(_DocumentView):
    """``/xapi/agents/profile``: agent + profileId (Communication 2.6)."""

    scopes = PROFILE_SCOPES
    kind = DocumentKind.AGENT_PROFILE
    id_param = "profileId"
    key_params = frozenset({"agent"})

    def key(self, request: XAPIRequest) -> DocumentKey:
        ifi = _agent_ifi(request.params, allow_group=False)
        document_id = parse_document_id(request.params, self.id_param)
        check_document_key_length((("agent", ifi), (self.id_param, document_id)))
        return DocumentKey(kind=self.kind, agent_ifi=ifi, document_id=document_id)

    def context(self, request: XAPIRequest) -> DocumentContext:
        return DocumentContext(kind=self.kind, agent_ifi=_agent_ifi(request.params, allow_group=False))
