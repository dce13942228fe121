"""The 404 of a URL that names no resource: under the JSON APIs (``LRS_JSON_ERROR_PATHS``) a JSON
body naming the path and the rule, in the shape of the APIs' other failures (lrs/api/base.py's
500 and 503), not Django's HTML page, which a client of a JSON API cannot read; elsewhere (the
admin, the docs) Django's page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found

from lrs.xapi import versions
from lrs.xapi.errors import XAPIValidationError


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith(settings.LRS_JSON_ERROR_PATHS):
        return page_not_found(request, exception)
    response = JsonResponse(
        {"error": "NotFound", "message": f"no resource at {request.path}", "rule": "no-such-resource"},
        status=404,
    )
    if request.path.startswith("/xapi/"):
        response["X-Experience-API-Version"] = _version(request)
    return response


def _version(request: HttpRequest) -> str:
    """The version the client asked for, as the xAPI resources answer their own errors
    (lrs/api/base.py): a 1.0.3 client told 2.0.0 reads a response of another protocol. No header,
    or one naming no version served: the default, the 404 being what it answers."""
    try:
        return versions.negotiate(request.headers.get("X-Experience-API-Version"))
    except XAPIValidationError:
        return settings.LRS_DEFAULT_XAPI_VERSION
