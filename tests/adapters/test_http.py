"""The one HTTP seam: how target answers map onto AdapterError (faked with ``responses``)."""

from __future__ import annotations

import pytest
import requests
import responses

from adapters import http
from adapters.base import AdapterError, OutboundRequest

URL = "https://target.example.com/hook"


def post() -> OutboundRequest:
    return OutboundRequest(method="POST", url=URL, json={"a": 1}, timeout=2)


@responses.activate
def test_success_returns_status_and_sends_a_request_id():
    responses.post(URL, json={"ok": True}, status=201)
    result = http.send(post(), correlation_id="corr-1")
    assert result.status_code == 201
    assert responses.calls[0].request.headers["X-Request-ID"] == "corr-1"


@responses.activate
def test_request_id_is_generated_when_there_is_none():
    responses.post(URL, status=200)
    http.send(post())
    assert len(responses.calls[0].request.headers["X-Request-ID"]) == 32


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retryable(status):
    responses.post(URL, status=status, body="down")
    with pytest.raises(AdapterError) as caught:
        http.send(post())
    assert not caught.value.permanent and caught.value.status_code == status
    assert caught.value.response_body == "down"


@responses.activate
def test_429_carries_retry_after():
    responses.post(URL, status=429, headers={"Retry-After": "17"})
    with pytest.raises(AdapterError) as caught:
        http.send(post())
    assert caught.value.retry_after == 17 and not caught.value.permanent


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_permanent(status):
    responses.post(URL, status=status)
    with pytest.raises(AdapterError) as caught:
        http.send(post())
    assert caught.value.permanent


@responses.activate
def test_410_disables_the_target():
    responses.post(URL, status=410)
    with pytest.raises(AdapterError) as caught:
        http.send(post())
    assert caught.value.permanent and caught.value.disable_target


@responses.activate
@pytest.mark.parametrize("exc", [requests.ConnectTimeout, requests.ReadTimeout, requests.ConnectionError])
def test_timeouts_and_connection_errors_are_retryable(exc):
    responses.post(URL, body=exc("boom"))
    with pytest.raises(AdapterError) as caught:
        http.send(post())
    assert not caught.value.permanent and caught.value.status_code is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (None, None), ("", None), ("soon", None), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0)],
)
def test_retry_after_header_as_seconds_or_http_date(header, expected):
    from email.utils import parsedate_to_datetime

    now = parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert http.parse_retry_after(header, now_epoch=now) == expected
