"""The alternate-syntax CSRF guard (lrs/api/alternate.py, 4532efb) against the other ways a browser
shows where a form POST came from, and against the deployments it must not break.

A browser that sends no Origin on a form POST (Internet Explorer 11, the browser the alternate
syntax exists for, and Firefox before 70) still sends the Referer: a cross-site one must count as
cross-site. A proxy in front may pass its own Host (the upstream's name) to the LRS: a page of the
LRS's public origin then sends an Origin that is not the Host, and Django's own CSRF check takes
``CSRF_TRUSTED_ORIGINS`` (production settings) for that, so the guard does too."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings

from lrs.statements.models import Statement
from tests.conftest import basic_auth, make_statement

pytestmark = pytest.mark.django_db


def put_with(make_credential, headers: dict[str, str]) -> tuple[int, bool]:
    """A PUT in the alternate syntax whose Authorization comes only as a header (as a browser's
    cached credential would): (status, whether the statement was stored)."""
    credential, secret = make_credential(scopes=["all"])
    statement_id = str(uuid.uuid4())
    fields = {
        "statementId": statement_id,
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
        "content": json.dumps(make_statement()),
    }
    response = Client().post(
        "/xapi/statements?method=PUT",
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": basic_auth(credential.key, secret), **headers},
    )
    return response.status_code, Statement.objects.filter(statement_id=statement_id).exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"Referer": "https://evil.example/page.html"},
        {"Referer": "http://testserver.evil.example/"},
        {"Origin": "null"},
        {"Origin": "http://testserver:8080"},
        {"Origin": "https://evil.example", "Referer": "http://testserver/"},
    ],
    ids=["referer-only", "referer-lookalike-host", "origin-null", "same-host-other-port", "origin-wins"],
)
def test_a_cross_site_browser_post_is_not_authenticated_by_the_header(make_credential, headers) -> None:
    assert put_with(make_credential, headers) == (401, False)


@pytest.mark.parametrize(
    "headers",
    [
        {"Referer": "http://testserver/content/index.html"},
        {"Origin": "http://testserver/"},
        {"ORIGIN": "http://TestServer"},
    ],
    ids=["same-site-referer", "origin-trailing-slash", "header-and-host-case"],
)
def test_a_same_site_page_may_send_the_header(make_credential, headers) -> None:
    assert put_with(make_credential, headers) == (204, True)


@override_settings(CSRF_TRUSTED_ORIGINS=["https://lrs.example.com"])
def test_a_page_of_a_trusted_origin_behind_a_proxy_that_rewrites_host_may_send_the_header(
    make_credential,
) -> None:
    assert put_with(make_credential, {"Origin": "https://lrs.example.com"}) == (204, True)
    assert put_with(make_credential, {"Origin": "https://other.example.com"}) == (401, False)


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.example.com"])
def test_a_page_of_a_trusted_wildcard_origin_may_send_the_header(make_credential) -> None:
    """Django's CSRF check reads ``https://*.example.com`` as every subdomain of example.com,
    over https; the guard reads it the same way."""
    assert put_with(make_credential, {"Origin": "https://lrs.example.com"}) == (204, True)
    assert put_with(make_credential, {"Origin": "http://lrs.example.com"}) == (
        401,
        False,
    )  # the scheme counts
    assert put_with(make_credential, {"Origin": "https://example.com.evil.test"}) == (401, False)
