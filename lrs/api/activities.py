"""The Activities resource: ``GET /xapi/activities?activityId=`` returns the full Activity object.

xAPI 1.0.3 Communication 2.5; IEEE 9274.1.1 (xAPI 2.0) 4.1.6.4 ("If an LRS does
not have a canonical definition of the Activity to return, the LRS shall still
return an Activity Object when queried").
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#25-activities-resource

The definition is the LRS's canonical one, merged from the statements it stored
(:func:`lrs.activities.definitions.activity_definitions_update`).
"""

from __future__ import annotations

import json

from django.http import HttpResponse

from lrs.activities.selectors import activity_get
from lrs.api.agents import READ_SCOPES
from lrs.api.base import XAPIView, json_response, reject_unknown_params
from lrs.api.documents import parse_activity_id
from lrs.api.request import XAPIRequest
from lrs.xapi.documents import etag_for


class ActivitiesView(XAPIView):
    http_method_names = ["get", "head", "options"]
    scopes = {"get": READ_SCOPES}

    def get(self, request: XAPIRequest) -> HttpResponse:
        reject_unknown_params(request.params, {"activityId"})
        activity = activity_get(parse_activity_id(request.params))
        body = json.dumps(activity, ensure_ascii=False)
        response = json_response(None, text=body)
        response["ETag"] = etag_for(body.encode("utf-8"))
        return response
