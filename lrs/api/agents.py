"""The Agents resource: ``GET /xapi/agents?agent=`` returns a Person object.

xAPI 1.0.3 Communication 2.4; IEEE 9274.1.1 (xAPI 2.0) 4.1.6.3.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#24-agents-resource

"The agent parameter is a normal Agent Object with a single identifier and no
arrays. It is not a Person Object, nor is it a Group." Unknown agents still get a
Person (200) holding what the request told.
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from lrs.api.base import XAPIView, json_response, reject_unknown_params
from lrs.api.documents import parse_agent
from lrs.api.request import XAPIRequest
from lrs.credentials import scopes
from lrs.statements.person import person_get
from lrs.xapi.documents import etag_for

# Any scope that reads: all/read and statements/read imply statements/read/mine; state and profile read too.
READ_SCOPES = (scopes.STATEMENTS_READ_MINE, scopes.ALL_READ, scopes.STATE, scopes.PROFILE)


class AgentsView(XAPIView):
    http_method_names = ["get", "head", "options"]
    scopes = {"get": READ_SCOPES}

    def get(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, {"agent"})
        own_only = request.reads_own_statements_only
        person = person_get(
            parse_agent(request.params, allow_group=False),
            # Names only from statements the credential may read (Communication 4.2 scopes).
            from_statements=own_only is None or request.credential.allows(scopes.STATEMENTS_READ_MINE),
            credential_id=own_only,
        )
        body = json.dumps(person, ensure_ascii=False)
        response = json_response(None, text=body)
        response["ETag"] = etag_for(body.encode("utf-8"))
        return response
