"""xAPI 1.0.3 alternate request syntax, used by older browser content that cannot
send arbitrary headers or methods (cross-origin in old IE).

A ``POST ?method=PUT`` whose form body carries the headers, the query parameters
and the body (``content``). Communication 1.3:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#alt-request-syntax
Not allowed in xAPI 2.0 (checked by the caller once the version is known).
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import is_same_domain

from lrs.api.request import XAPIRequest
from lrs.xapi.errors import XAPIValidationError

METHODS = {"GET", "HEAD", "PUT", "POST", "DELETE"}
# Form fields that stand for request headers (Communication 1.3, table of allowed parameters).
HEADER_FIELDS = {
    "authorization": "Authorization",
    "x-experience-api-version": "X-Experience-API-Version",
    "content-type": "Content-Type",
    "content-length": "Content-Length",
    "if-match": "If-Match",
    "if-none-match": "If-None-Match",
}


class _Headers(dict):
    """Case-insensitive header mapping like Django's ``request.headers``."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


def _form_fields(request: HttpRequest) -> dict[str, str]:
    """The form's fields, read in the charset its Content-Type names (UTF-8 by default), its
    percent-escapes too (a browser's form escapes the bytes of that charset: "é" is %E9 in
    ISO-8859-1), or a 400: a charset Python has no text codec for, bytes or escapes that are not
    text in it (not replaced by U+FFFD: the statements would hold other text than was sent), or
    text that is not Unicode characters (a lone surrogate, which codecs such as unicode_escape can
    produce). https://url.spec.whatwg.org/#application/x-www-form-urlencoded"""
    charset = request.encoding or request.content_params.get("charset") or "utf-8"
    try:
        text = request.body.decode(charset)
        fields = dict(parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict"))
        for name, value in fields.items():
            name.encode("utf-8")
            value.encode("utf-8")
    except LookupError:
        raise XAPIValidationError(
            f"the form's charset {charset[:40]!r} is not a text encoding this LRS reads; send UTF-8",
            path="Content-Type",
            rule="charset",
        ) from None
    except UnicodeError:
        raise XAPIValidationError(
            f"the form body is not {charset[:40]} text", path="body", rule="charset"
        ) from None
    return fields


def _cross_site(request: HttpRequest) -> bool:
    """Whether a browser sent this from another site: its Origin (or, from a browser that sends
    none on a form POST, such as Internet Explorer 11, its Referer) is neither this host nor one of
    ``CSRF_TRUSTED_ORIGINS`` (a proxy in front may pass its own Host, as for Django's CSRF check)."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return False
    try:
        parts = urlsplit(source)  # Origin "null" has no host: cross-site
    except ValueError:
        return True
    if parts.netloc and parts.netloc.lower() == request.get_host().lower():
        return False
    return not any(_trusted(parts, origin) for origin in settings.CSRF_TRUSTED_ORIGINS)


def _trusted(source: SplitResult, origin: str) -> bool:
    """Whether ``source`` is the trusted ``origin``, read as Django's CSRF check reads it: a
    ``*.`` host stands for every subdomain (``is_same_domain``)."""
    trusted = urlsplit(origin.lower().rstrip("/"))
    if trusted.scheme != source.scheme.lower() or not source.netloc:
        return False
    if "*" in trusted.netloc:
        return is_same_domain(source.netloc.lower(), trusted.netloc.lstrip("*"))
    return trusted.netloc == source.netloc.lower()


def unwrap(request: HttpRequest) -> XAPIRequest:
    method = request.GET.get("method", "").upper()
    if method not in METHODS:
        raise XAPIValidationError(
            f"method must be one of {', '.join(sorted(METHODS))}", path="method", rule="alternate-method"
        )
    extra = sorted(key for key in request.GET if key != "method")
    if extra:
        raise XAPIValidationError(
            "with the alternate request syntax, method is the only query parameter allowed; "
            f"move {', '.join(extra)} into the form body",
            path=extra[0],
            rule="alternate-query",
        )
    if (request.content_type or "").lower() != "application/x-www-form-urlencoded":
        raise XAPIValidationError(
            "the alternate request syntax requires Content-Type application/x-www-form-urlencoded",
            path="Content-Type",
            rule="alternate-content-type",
        )
    fields = _form_fields(request)
    # The outer request's own Content-Type and Content-Length describe the form, not the content.
    headers = _Headers(
        {
            key.lower(): value
            for key, value in request.headers.items()
            if key.lower() not in {"content-type", "content-length"}
        }
    )
    if "authorization" not in {name.lower() for name in fields} and _cross_site(request):
        # Headers travel as form fields here (Communication 1.3), Authorization too. A browser
        # sends a form POST from any site without a preflight and attaches a Basic credential it
        # cached from an earlier prompt: taken as authenticated, that would forge requests.
        headers.pop("authorization", None)
    params: dict[str, str] = {}
    content = fields.pop("content", "")
    for name, value in fields.items():
        if name.lower() in HEADER_FIELDS:
            headers[name.lower()] = value
        else:
            params[name] = value
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if not content_type and content:
        # Communication 1.3: content sent this way is JSON unless a Content-Type field says otherwise.
        content_type = "application/json"
    return XAPIRequest(
        method=method,
        params=params,
        headers=headers,
        body=content.encode("utf-8"),
        content_type=content_type,
        raw=None,
    )
