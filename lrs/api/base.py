"""The frame every xAPI resource view runs in.

Turns an HTTP request (or its xAPI 1.0.3 alternate-syntax form) into an
``XAPIRequest``, negotiates the version, authenticates, checks scopes, maps
``XAPIError`` to its status with a JSON body naming path and rule, and sets the
version header on every response. Views stay thin: parse, call a service or
selector, render.

``JsonFailureMiddleware`` answers what goes wrong below the views in JSON too, never with
Django's HTML error page: a client of the xAPI (an LMS, browser content) or of the identity API
must be able to tell "try again later" from "you sent something wrong". So, for requests under
the paths named by ``LRS_JSON_ERROR_PATHS``:

- the database unreachable (a restart, a failover, a network cut: Django's ``OperationalError``
  or ``InterfaceError``) is **503** with ``Retry-After`` (``LRS_RETRY_AFTER_SECONDS``) and a JSON
  body in the usual shape (``error``, ``message``, ``rule``); nothing was stored, so the client
  sends the same request again;
- any other unexpected error is **500**, in JSON too, naming the request id to quote.

Errors Django itself answers (404, 403, 400) pass through. RFC 9110 15.6.4 (503) and 10.2.3
(Retry-After).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from lrs.api import alternate
from lrs.api.auth import WWW_AUTHENTICATE, authenticate, forget_credential
from lrs.api.request import XAPIRequest
from lrs.credentials.current import CredentialChanged
from lrs.statements.erasure import forget_people_if_erased
from lrs.xapi import json_limits, versions
from lrs.xapi.errors import (
    XAPIError,
    XAPIForbidden,
    XAPIPayloadTooLarge,
    XAPIUnauthorized,
    XAPIValidationError,
)

logger = logging.getLogger(__name__)


def json_response(data: Any, status: int = 200, *, text: str | None = None) -> HttpResponse:
    body = text if text is not None else json.dumps(data, ensure_ascii=False)
    return HttpResponse(body.encode("utf-8"), status=status, content_type="application/json; charset=utf-8")


def error_response(error: XAPIError) -> HttpResponse:
    response = json_response(error.as_dict(), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


class XAPIView(View):
    """Base class: subclasses define ``get``/``put``/``post``/``delete`` taking an ``XAPIRequest``
    and list the scopes each method needs in ``scopes`` (any one of them suffices)."""

    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    scopes: dict[str, tuple[str, ...]] = {}
    authenticated = True
    version_required = True
    # Methods whose handler writes statements, checking the credential as it writes: these may
    # authenticate from the process's cache (lrs.api.auth).
    credential_checked_by_write: tuple[str, ...] = ()

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponse]:
        # xAPI clients authenticate every request with credentials, never a session cookie,
        # so CSRF protection does not apply (and subclasses overriding dispatch stay exempt).
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "OPTIONS":
            # CORS preflights are answered by corsheaders before they get here.
            return self.options(request, *args, **kwargs)
        forget_people_if_erased()  # what validation remembers of people (lrs.statements.erasure)
        version = settings.LRS_DEFAULT_XAPI_VERSION
        json_limits.max_depth_set(settings.LRS_MAX_JSON_DEPTH)
        try:
            xapi_request = self._build(request)
            request.xapi = xapi_request  # the request log line names its credential and statement count
            if self.version_required or xapi_request.header("X-Experience-API-Version"):
                version = versions.negotiate(xapi_request.header("X-Experience-API-Version"))
            xapi_request.version = version
            if xapi_request.raw is not request and versions.is_v2(version):
                raise XAPIValidationError(
                    "the alternate request syntax (?method=) is not allowed in xAPI 2.0",
                    path="method",
                    rule="alternate-syntax-v2",
                )
            if self.authenticated:
                # The request as read (alternate syntax: its form fields), never the raw header behind it.
                self._authenticate(request, xapi_request)
            reject_nul_params(xapi_request.params)
            handler: Callable[..., HttpResponse] | None = getattr(
                self, xapi_request.method.lower().replace("head", "get"), None
            )
            if handler is None or xapi_request.method.lower() not in self.http_method_names:
                response = json_response(
                    {"error": "MethodNotAllowed", "message": f"{xapi_request.method} is not allowed here"},
                    status=405,
                )
            else:
                response = self._handle(handler, request, xapi_request, *args, **kwargs)
        except XAPIError as error:
            response = error_response(error)
        response["X-Experience-API-Version"] = version
        if request.method == "HEAD":
            # HEAD answers like GET without a body (Communication 1.1); keep the length header.
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response

    def _authenticate(self, request: HttpRequest, xapi_request: XAPIRequest) -> None:
        """Authenticate and check scopes; a write that checks the credential as it writes may use
        this process's copy (lrs.api.auth)."""
        authorization = xapi_request.header("Authorization") or ""
        cached = xapi_request.method in self.credential_checked_by_write
        xapi_request.credential = authenticate(request, authorization, cached=cached)
        try:
            self._check_scopes(xapi_request)
        except XAPIForbidden:
            if not cached:
                raise
            # The copy lacks the scope, but another process may have granted it: the stored row decides.
            xapi_request.credential = authenticate(request, authorization)
            self._check_scopes(xapi_request)

    def _handle(
        self,
        handler: Callable[..., HttpResponse],
        request: HttpRequest,
        xapi_request: XAPIRequest,
        *args: Any,
        **kwargs: Any,
    ) -> HttpResponse:
        try:
            return handler(xapi_request, *args, **kwargs)
        except CredentialChanged:
            # The write found the credential this process cached changed or revoked by another and
            # wrote nothing (lrs.credentials.current): authenticate again from the database.
            forget_credential(xapi_request.credential.key if xapi_request.credential else "")
            xapi_request.credential = authenticate(request, xapi_request.header("Authorization") or "")
            self._check_scopes(xapi_request)
        try:
            return handler(xapi_request, *args, **kwargs)
        except CredentialChanged:  # changed again meanwhile: refused rather than tried forever
            raise XAPIUnauthorized("invalid credentials", rule="auth-invalid") from None

    def _build(self, request: HttpRequest) -> XAPIRequest:
        content_length = int(request.headers.get("Content-Length") or 0)
        if content_length > settings.LRS_MAX_REQUEST_BYTES:
            raise XAPIPayloadTooLarge(
                f"the request body is {content_length} bytes; the limit is {settings.LRS_MAX_REQUEST_BYTES}",
                rule="request-size",
            )
        if request.method == "POST" and "method" in request.GET:
            return alternate.unwrap(request)
        return XAPIRequest(
            method=request.method or "GET",
            params={key: request.GET.get(key, "") for key in request.GET},
            headers=request.headers,
            body=request.body,
            content_type=(request.content_type or "").lower(),
            raw=request,
        )

    def _check_scopes(self, xapi_request: XAPIRequest) -> None:
        method = "get" if xapi_request.method == "HEAD" else xapi_request.method.lower()
        needed = self.scopes.get(method, ())
        credential = xapi_request.credential
        if needed and credential is not None and not credential.allows(*needed):
            raise XAPIForbidden(
                f"the credential's scopes {credential.scopes} do not allow {xapi_request.method} here; "
                f"one of {list(needed)} is required",
                rule="scope",
            )


def reject_nul_params(params: Mapping[str, str]) -> None:
    """Query parameters name documents, agents and activities that the LRS stores and looks up as
    text, which in PostgreSQL cannot hold U+0000: refused as bad input instead of failing there."""
    for name, value in params.items():
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "?") or '""'  # an empty name too is named
            raise XAPIValidationError(
                f"query parameter {shown} must not contain U+0000", path=shown, rule="no-nul"
            )


def reject_unknown_params(params: Mapping[str, str], allowed: set[str] | frozenset[str]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        # A parameter with an empty name (``?=x``, ``&=``) is named '""', not left unnamed.
        names = [name or '""' for name in unknown]
        raise XAPIValidationError(
            f"unknown query parameter(s) {', '.join(names)}; allowed: {', '.join(sorted(allowed))}",
            path=names[0],
            rule="unknown-parameter",
        )


_DJANGO_ANSWERS = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)


class JsonFailureMiddleware:
    """Place it after the middleware that must see every response (CORS, request id)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(tuple(settings.LRS_JSON_ERROR_PATHS)):
            return None
        if isinstance(exception, _DJANGO_ANSWERS):
            return None
        request_id = request.headers.get("X-Request-ID", "")
        if isinstance(exception, OperationalError | InterfaceError):
            logger.warning(
                "the database is unreachable: %s %s answered 503 (%s)",
                request.method,
                request.path,
                type(exception).__name__,
            )
            response = json_response(
                {
                    "error": "ServiceUnavailable",
                    "message": "the store is unreachable for the moment; nothing was stored or changed. "
                    "Send the same request again after the time in Retry-After",
                    "rule": "storage-unavailable",
                },
                status=503,
            )
            response["Retry-After"] = str(settings.LRS_RETRY_AFTER_SECONDS)
        else:
            logger.exception("unexpected error answering %s %s", request.method, request.path)
            response = json_response(
                {
                    "error": "InternalError",
                    "message": "an unexpected error occurred"
                    + (f"; quote request id {request_id}" if request_id else ""),
                    "rule": "internal",
                },
                status=500,
            )
        if request.path.startswith("/xapi/"):
            response["X-Experience-API-Version"] = settings.LRS_DEFAULT_XAPI_VERSION
        return response
