"""The one HTTP seam every adapter sends through.

One pooled ``requests`` transport per sending thread, a timeout on every request, the
correlation id in ``X-Request-ID``, and the mapping of what came back onto
``AdapterError`` (permanent or not, ``Retry-After``, 410 disables the target).
Tests fake targets with a real local server or with ``responses`` at this seam.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3

from adapters.outbound import AdapterError, OutboundRequest, SendResult

RESPONSE_EXCERPT_CHARS = 2000
USER_AGENT = "lrs-fanout/0.1"

# Status codes worth retrying: timeouts, rate limits, and server-side failures.
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}

_local = threading.local()


def is_retryable_status(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUS or status_code >= 500


def parse_retry_after(value: str | None, *, now_epoch: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date, RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_epoch)


class _Client:
    """This thread's connection pool (a ``requests`` transport adapter, keep-alive per origin).

    ``send`` hands each request straight to the transport instead of going through a
    ``requests.Session``: the session's merging of settings, cookies, hooks and redirects, and its
    per-request scan of the environment for proxies and ``~/.netrc``, cost more than half of a
    send to a fast target (``bench/`` drain floor: 830-900/s through a session, 1,300-1,460/s
    through the transport, one thread). What a session would have read from the environment is
    read once here: ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (per origin) and
    ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``. No cookies are kept and no redirect is followed
    (a target answering 3xx is an error, as before); ``.netrc`` credentials are not used, since
    every target authenticates by its own configuration.
    """

    def __init__(self) -> None:
        self.transport = requests.adapters.HTTPAdapter()
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self.verify: bool | str = bundle or True
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def proxies_for(self, url: str) -> dict[str, str]:
        origin = urlsplit(url)[:2]
        if origin not in self._proxies:
            self._proxies[origin] = requests.utils.get_environ_proxies(url)  # honours NO_PROXY
        return self._proxies[origin]

    def send(self, request: OutboundRequest, headers: dict[str, str]) -> requests.Response:
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=request.method,
            url=request.url,
            headers={"User-Agent": USER_AGENT, **headers},
            data=request.body,
            json=request.json if request.body is None else None,
        )
        response = self.transport.send(
            prepared, timeout=request.timeout, verify=self.verify, proxies=self.proxies_for(request.url)
        )
        response.content  # noqa: B018  read the body whole: the connection goes back to the pool
        return response


def _client() -> _Client:
    current = getattr(_local, "client", None)
    if current is None:
        current = _local.client = _Client()
    return current


def excerpt(text: str) -> str:
    return text[:RESPONSE_EXCERPT_CHARS]


def raise_for_response(response: requests.Response) -> None:
    """Turn a non-2xx answer into the right ``AdapterError``."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = excerpt(response.text or "")
    if status == 410:
        raise AdapterError(
            "the target answered 410 Gone",
            permanent=True,
            status_code=status,
            response_body=body,
            disable_target=True,
        )
    retry_after = None
    if status in {429, 503}:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now_epoch=time.time())
    raise AdapterError(
        f"the target answered {status}",
        permanent=not is_retryable_status(status),
        retry_after=retry_after,
        status_code=status,
        response_body=body,
        # A server error may come after the effect was applied; 429/503 say it was not.
        ambiguous=status >= 500 and status != 503,
    )


def _never_sent(exc: requests.ConnectionError) -> bool:
    """Whether a connection error happened before the request left (refused, unresolvable,
    TLS handshake), as opposed to a connection lost while the target had it."""
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(exc, requests.exceptions.SSLError) or isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
    )


def send(request: OutboundRequest, *, correlation_id: str = "") -> SendResult:
    """Send one request; an ``AdapterError`` names it (``error.request``)."""
    try:
        return _send(request, correlation_id=correlation_id)
    except AdapterError as error:
        error.request = request
        raise


def _send(request: OutboundRequest, *, correlation_id: str) -> SendResult:
    headers = dict(request.headers)
    headers.setdefault("X-Request-ID", correlation_id or uuid.uuid4().hex)
    started = time.monotonic()
    try:
        response = _client().send(request, headers)
    except requests.ConnectTimeout as exc:
        raise AdapterError(f"timed out after {request.timeout} s: {type(exc).__name__}") from None
    except requests.Timeout as exc:  # the request was sent; the answer did not come in time
        raise AdapterError(
            f"timed out after {request.timeout} s: {type(exc).__name__}", ambiguous=True
        ) from None
    except requests.ConnectionError as exc:
        raise AdapterError(
            f"connection failed: {type(exc).__name__}", ambiguous=not _never_sent(exc)
        ) from None
    except requests.RequestException as exc:
        raise AdapterError(f"request failed: {type(exc).__name__}: {exc}") from None
    duration_ms = int((time.monotonic() - started) * 1000)
    raise_for_response(response)
    text = response.text or ""
    return SendResult(
        status_code=response.status_code,
        body=text if request.whole_answer else excerpt(text),
        duration_ms=duration_ms,
    )
