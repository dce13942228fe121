"""``GET /xapi/about``: the versions this LRS speaks. No authentication (Communication 2.8).
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#28-about-resource
"""

from __future__ import annotations

from django.http import HttpResponse

from lrs.api.base import XAPIView, json_response
from lrs.api.request import XAPIRequest
from lrs.xapi import versions


class AboutView(XAPIView):
    authenticated = False
    version_required = False

    def get(self, request: XAPIRequest) -> HttpResponse:
        return json_response({"version": list(versions.SUPPORTED), "extensions": {}})
