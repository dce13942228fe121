"""Bad input the API fuzz (this folder) found answered with a 500 or an unclear 400, each reduced to
the smallest request that showed it. Bad input is a 4xx naming the parameter, header or part and
the rule (Communication 3.2, https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#32-error-codes)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import uuid
from urllib.parse import urlencode

import pytest
from django.core import signals
from django.db import close_old_connections

from lrs.documents.models import Document
from lrs.statements.models import Statement
from lrs.xapi.signatures import SIGNATURE_USAGE_TYPE
from tests.conftest import XAPIClient, make_statement
from tests.lrs.api.test_statements_attachments import BOUNDARY, post_multipart

pytestmark = pytest.mark.django_db

AGENT = json.dumps({"mbox": "mailto:learner@example.com"})


def assert_400(response, path: str, rule: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["path"], body["rule"]) == (path, rule), body


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661", "\uff11"])
def test_a_limit_of_non_ascii_digits_is_a_400_naming_limit(xapi: XAPIClient, limit: str) -> None:
    # A superscript two is a digit to str.isdigit() but not to int() (it was a 500); an Arabic-Indic
    # or fullwidth one int() would read, but the parameter is a non-negative integer in ASCII digits
    # (Communication 2.1.3, the limit parameter).
    assert_400(xapi.get_statements(limit=limit), "limit", "limit")


def _alternate(xapi: XAPIClient, body: bytes, charset: str = ""):
    return xapi.client.generic(
        "POST",
        "/xapi/statements?method=PUT",
        body,
        content_type="application/x-www-form-urlencoded" + charset,
    )


def test_an_alternate_syntax_form_that_is_not_utf_8_is_a_400_and_stores_nothing(xapi: XAPIClient) -> None:
    # Communication 1.3: the form is application/x-www-form-urlencoded, UTF-8 unless its charset
    # says otherwise; bytes that are not text in that charset are bad input.
    form = urlencode(
        {
            "statementId": str(uuid.uuid4()),
            "content": json.dumps(make_statement()),
            "Authorization": xapi.headers["Authorization"],
            "X-Experience-API-Version": "1.0.3",
        }
    ).encode()
    assert_400(_alternate(xapi, form + b"&x=\xff"), "body", "charset")
    assert not Statement.objects.exists()


def test_an_alternate_syntax_form_decoding_to_a_lone_surrogate_is_a_400(xapi: XAPIClient) -> None:
    # unicode_escape is a text codec Django accepts as a charset; "\ud800" in it is a lone surrogate,
    # not a Unicode character.
    assert_400(_alternate(xapi, b"content=\\ud800", "; charset=unicode_escape"), "body", "charset")


def test_an_empty_batch_stores_nothing_and_answers_an_empty_list_of_ids(xapi: XAPIClient) -> None:
    # Communication 2.1.2 (POST Statements): the answer is the "Array of Statement id(s) ... in the
    # same order as the corresponding stored Statements"; of none, that is [].
    response = xapi.post_statements([])
    assert response.status_code == 200, response.content
    assert response.json() == []
    assert not Statement.objects.exists()


@pytest.mark.parametrize(("pair", "rule"), [("=x", "unknown-parameter"), ("=%00", "no-nul")])
def test_a_query_parameter_with_an_empty_name_is_a_400_naming_it(
    xapi: XAPIClient, pair: str, rule: str
) -> None:
    # "?=x": Communication 3.2, "any parameters which the LRS does not recognize" are a 400; it is
    # named '""' rather than left unnamed.
    response = xapi.client.get(
        f"/xapi/activities?activityId=http://example.com/a&{pair}", headers=xapi.headers
    )
    assert_400(response, '""', rule)
    assert '""' in response.json()["message"]


@pytest.mark.parametrize("token", ["é", "ÿÿÿÿ"])
def test_basic_credentials_with_non_ascii_characters_are_a_401(xapi: XAPIClient, token: str) -> None:
    # Base64 is ASCII; a header a proxy or client mangled is malformed credentials (Communication 4.1).
    response = xapi.get("/xapi/statements", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401, response.content
    assert response.json()["rule"] == "auth-malformed"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("alg", [[], {"name": "RS256"}, None, 256])
def test_a_jws_whose_alg_is_not_a_string_is_a_400_naming_the_algorithm(xapi: XAPIClient, alg: object) -> None:
    # Data 2.6 (Signed Statements): "The JWS signature MUST use an algorithm of "RS256", "RS384",
    # or "RS512""; an array or object there is a malformed signature, not a crash.
    statement = make_statement()
    header, payload = json.dumps({"alg": alg}).encode(), json.dumps(statement).encode()
    token = f"{_b64url(header)}.{_b64url(payload)}.{_b64url(b'sig')}"
    sha2 = hashlib.sha256(token.encode()).hexdigest()
    statement["attachments"] = [
        {
            "usageType": SIGNATURE_USAGE_TYPE,
            "display": {"en-US": "signature"},
            "contentType": "application/octet-stream",
            "length": len(token),
            "sha2": sha2,
        }
    ]
    body = (
        f"--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{json.dumps(statement)}\r\n"
        f"--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nX-Experience-API-Hash: {sha2}\r\n\r\n"
        f"{token}\r\n--{BOUNDARY}--"
    ).encode()
    assert_400(post_multipart(xapi, body), "statement.attachments[0].jws.header.alg", "signature-algorithm")
    assert not Statement.objects.exists()


def wsgi_call(
    method: str, path: str, query: str, content_type: str, body: bytes, headers: dict
) -> tuple[int, bytes]:
    """One request through the application gunicorn serves (``config.wsgi.application``): the
    test client builds Django's own WSGIRequest, not the one the served application uses."""
    from config.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }
    status: list[str] = []
    # As Django's test client does: the test's transaction holds this thread's connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, lambda line, _headers, _exc=None: status.append(line))
        return int(status[0].split()[0]), b"".join(chunks)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib"])
def test_a_charset_naming_a_codec_that_is_not_a_text_encoding_is_not_a_500(
    xapi: XAPIClient, charset: str
) -> None:
    """Django's WSGIRequest takes any charset ``codecs.lookup`` finds (rot13, base64, zlib are
    codecs, not text encodings) as the request's encoding, and setting it evaluates the query
    string with it (``hasattr(self, "GET")``): a LookupError before any middleware or view, a
    500. The served request (``config.wsgi``) takes such a charset for no encoding: a GET reads
    its UTF-8 query; the alternate syntax, whose form body is text in that charset, is a 400."""
    headers = {**xapi.headers, "Host": "testserver"}
    status, body = wsgi_call(
        "GET", "/xapi/statements", "limit=1", f"application/json; charset={charset}", b"", headers
    )
    assert status == 200, body[:300]

    form = urlencode(
        {"X-Experience-API-Version": "1.0.3", "Authorization": headers["Authorization"]}
    ).encode()
    status, body = wsgi_call(
        "POST",
        "/xapi/statements",
        "method=GET",
        f"application/x-www-form-urlencoded; charset={charset}",
        form,
        {},
    )
    assert status == 400 and json.loads(body)["rule"] == "charset", body[:300]


# Random hex: text PostgreSQL cannot compress below its index row limit (2704 bytes), as it could
# a run of one letter.
LONG = secrets.token_hex(1500)


@pytest.mark.parametrize(
    ("statement", "path"),
    [
        (make_statement(activity=f"http://example.com/{LONG}"), "statement.object.id"),
        (make_statement(verb=f"http://example.com/{LONG}"), "statement.verb.id"),
        (make_statement(actor_email=f"a@{LONG}.example.com"), "statement.actor.mbox"),
        (
            make_statement(actor={"account": {"homePage": "http://example.com", "name": LONG}}),
            "statement.actor.account",
        ),
        (
            make_statement(context={"contextActivities": {"parent": [{"id": f"http://example.com/{LONG}"}]}}),
            "statement.context.contextActivities.parent[0].id",
        ),
    ],
)
def test_an_identifier_longer_than_the_lrs_indexes_is_a_400_naming_it(
    xapi: XAPIClient, statement: dict, path: str
) -> None:
    assert_400(xapi.post_statements(statement), path, "identifier-length")
    assert not Statement.objects.exists()


@pytest.mark.parametrize(
    ("resource", "params", "path"),
    [
        ("/xapi/activities/state", {"stateId": LONG}, "stateId"),
        ("/xapi/activities/state", {"activityId": f"http://example.com/{LONG}"}, "activityId"),
        ("/xapi/activities/profile", {"profileId": LONG}, "profileId"),
        ("/xapi/agents/profile", {"profileId": LONG}, "profileId"),
        (
            "/xapi/agents/profile",
            {"agent": json.dumps({"openid": f"http://example.com/{LONG}"})},
            "agent.openid",
        ),
    ],
)
def test_a_document_key_longer_than_the_lrs_indexes_is_a_400_naming_the_longest_part(
    xapi: XAPIClient, resource: str, params: dict[str, str], path: str
) -> None:
    # Was a 503 "the store is unreachable ... send the same request again": a retry never helps.
    defaults = {
        "/xapi/activities/state": {"activityId": "http://example.com/a", "agent": AGENT, "stateId": "s"},
        "/xapi/activities/profile": {"activityId": "http://example.com/a", "profileId": "p"},
        "/xapi/agents/profile": {"agent": AGENT, "profileId": "p"},
    }[resource]
    query = urlencode({**defaults, **params})
    response = xapi.put_json(resource, {"a": 1}, query=f"?{query}", headers={"If-None-Match": "*"})
    assert_400(response, path, "identifier-length")
    assert not Document.objects.exists()
