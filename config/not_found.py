"""The 404 of a URL that names no resource: under the JSON APIs (``LRS_JSON_ERROR_PATHS``) a JSON
body naming the path and the rule, in the shape of the APIs' other failures (lrs/api/base.py's
500 and 503), not Django's HTML page, which a client of a JSON API cannot read; elsewhere (the
admin, the docs) Django's page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith(settings.LRS_JSON_ERROR_PATHS):
        return page_not_found(request, exception)
    response = JsonResponse(
        {"error": "NotFound", "message": f"no resource at {request.path}", "rule": "no-such-resource"},
        status=404,
    )
    if request.path.startswith("/xapi/"):
        response["X-Experience-API-Version"] = settings.LRS_DEFAULT_XAPI_VERSION
    return response
