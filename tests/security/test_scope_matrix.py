"""What each credential may do on every URL the app serves (xAPI 1.0.3 Communication 4.1 and 4.2,
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#42-oauth-authorization-scope;
IEEE 9274.1.1 (xAPI 2.0) 4.2). A scope that does not allow a request is 403; a missing, wrong,
revoked or mis-cased credential is 401, everywhere but the public URLs. The whole table is compared
at once, so a failure lists every cell that differs."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from lrs.credentials.models import Credential
from lrs.credentials.scopes import KNOWN_SCOPES
from tests.conftest import XAPI_VERSION, basic_auth
from tests.security.urls import Call, calls


def send(call: Call, authorization: str | None) -> int:
    headers = {"X-Experience-API-Version": XAPI_VERSION}
    if authorization is not None:
        headers["Authorization"] = authorization
    path = call.path + (f"?{urlencode(call.params)}" if call.params else "")
    body = call.body
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    response = Client(enforce_csrf_checks=True).generic(
        call.method, path, body or "", content_type="application/json", headers=headers
    )
    return response.status_code


def _cell(call: Call) -> str:
    return f"{call.label} {sorted(call.params)}"


def outcome(status: int) -> str:
    return {401: "401", 403: "403"}.get(status, "ok")


@pytest.mark.parametrize("granted", [[scope] for scope in KNOWN_SCOPES] + [["define", "state"]])
def test_each_scope_allows_exactly_the_requests_it_names_and_403_for_the_rest(make_credential, granted):
    credential, secret = make_credential(scopes=granted)
    authorization = basic_auth(credential.key, secret)
    table = calls()
    got = {_cell(call): outcome(send(call, authorization)) for call in table}
    allowed = {_cell(call) for call in table if call.public or call.allowed_by & set(granted)}
    expected = {_cell(call): "ok" if _cell(call) in allowed else "403" for call in table}
    assert got == expected


def _wrong_secret(credential: Credential, secret: str) -> str:
    return basic_auth(credential.key, secret + "x")


def _key_in_other_case(credential: Credential, secret: str) -> str:
    return basic_auth(credential.key.upper(), secret)


def _secret_in_other_case(credential: Credential, secret: str) -> str:
    return basic_auth(credential.key, secret.upper())


def _revoked(credential: Credential, secret: str) -> str:
    credential.is_active = False
    credential.save()
    return basic_auth(credential.key, secret)


def _bearer_of_the_secret(credential: Credential, secret: str) -> str:
    return f"Bearer {secret}"


def _no_secret(credential: Credential, secret: str) -> str:
    return basic_auth(credential.key, "")


def _digest_as_secret(credential: Credential, secret: str) -> str:
    # Whoever reads the table must not be able to log in with what it holds.
    return basic_auth(credential.key, credential.secret_digest)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        _wrong_secret,
        _key_in_other_case,
        _secret_in_other_case,
        _revoked,
        _bearer_of_the_secret,
        _no_secret,
        _digest_as_secret,
    ],
    ids=lambda value: "none" if value is None else value.__name__.strip("_"),
)
def test_without_a_valid_credential_every_url_but_the_public_ones_is_401(make_credential, authorization):
    credential, secret = make_credential(scopes=["all", "privacy"])
    header = None if authorization is None else authorization(credential, secret)
    table = calls()
    got = {_cell(call): outcome(send(call, header)) for call in table}
    expected = {_cell(call): "ok" if call.public else "401" for call in table}
    assert got == expected


def test_a_credential_revoked_in_this_process_is_refused_at_once_despite_the_cache(make_credential, settings):
    # LRS_CREDENTIAL_CACHE_SECONDS keeps credentials for a while; a save in this process clears it.
    settings.LRS_CREDENTIAL_CACHE_SECONDS = 60
    credential, secret = make_credential(scopes=["all"])
    statements = Call("GET", "/xapi/statements")
    assert send(statements, basic_auth(credential.key, secret)) == 200
    Credential.objects.filter(pk=credential.pk).update(is_active=False)
    credential.refresh_from_db()
    credential.save()
    assert send(statements, basic_auth(credential.key, secret)) == 401


def test_an_xapi_credential_never_opens_the_admin(make_credential):
    credential, secret = make_credential(scopes=["all", "privacy", "identity/write"])
    response = Client().get("/admin/", headers={"Authorization": basic_auth(credential.key, secret)})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("token", "sent", "status"),
    [
        ("m" * 40, None, 401),
        ("m" * 40, "Bearer " + "m" * 39, 401),
        ("m" * 40, "Bearer " + "M" * 40, 401),
        ("m" * 40, "Bearer " + "m" * 40, 200),
        ("", None, 401),
    ],
)
def test_metrics_need_the_bearer_token_when_not_public(db, settings, token, sent, status):
    settings.LRS_METRICS_TOKEN = token
    settings.LRS_METRICS_PUBLIC = False
    headers = {"Authorization": sent} if sent else {}
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == status
    assert ("m" * 40) not in response.content.decode()
