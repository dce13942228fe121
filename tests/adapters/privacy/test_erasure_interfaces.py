"""Erasure from the privacy API (its own scope, which ``all`` does not include) and from the admin
(a confirmation page showing what would be erased, superusers only)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.contrib.auth import get_user_model

from adapters.models import ErasureRequest
from lrs.statements.models import Statement
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

PERSON = {"mbox": "mailto:pat.person@example.com"}


def auth(make_credential, scopes: list[str]) -> dict[str, str]:
    credential, secret = make_credential(None, scopes)
    return {"Authorization": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode()}


def test_the_privacy_api_erases_under_its_own_scope_which_all_does_not_include(client, xapi, make_credential):
    xapi.post_statements(make_statement(actor_email="pat.person@example.com"))
    body = {"agent": PERSON, "mode": "delete"}
    refused = client.post(
        "/api/privacy/erasures", body, content_type="application/json", headers=auth(make_credential, ["all"])
    )
    assert refused.status_code == 403 and Statement.objects.exists()
    headers = auth(make_credential, ["privacy"])
    dry = client.post(
        "/api/privacy/erasures", {**body, "dry_run": True}, content_type="application/json", headers=headers
    )
    assert dry.status_code == 200 and dry.json()["own_statements"] == 1 and Statement.objects.exists()
    done = client.post("/api/privacy/erasures", body, content_type="application/json", headers=headers)
    assert done.status_code == 201, done.content
    assert done.json()["status"] == "done" and done.json()["counts"]["own_statements"] == 1
    assert not Statement.objects.exists()
    again = client.post("/api/privacy/erasures", body, content_type="application/json", headers=headers)
    assert (
        again.status_code == 200
        and again.json()["repeated"] is True
        and again.json()["id"] == done.json()["id"]
    )
    shown = client.get(f"/api/privacy/erasures/{done.json()['id']}", headers=headers)
    assert shown.json()["requested_by"].startswith("credential:")
    bad = client.post(
        "/api/privacy/erasures",
        {"agent": {"name": "no id"}},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 400 and "agent" in bad.json()
    unknown = client.post(
        "/api/privacy/erasures", {"agnt": PERSON}, content_type="application/json", headers=headers
    )
    assert unknown.status_code == 400 and unknown.json() == {"agnt": ["unknown field"]}


def test_the_admin_shows_what_would_be_erased_and_erases_on_confirmation(client, xapi):
    xapi.post_statements([make_statement(actor_email="pat.person@example.com") for _ in range(2)])
    client.force_login(get_user_model().objects.create_superuser("dpo", "dpo@example.com", "pw-for-tests"))
    form = {"agent": json.dumps(PERSON), "employee_id": "", "mode": "pseudonymise"}
    preview = client.post("/admin/adapters/erasurerequest/erase/", form)
    assert preview.status_code == 200
    assert b"their own statements: 2" in preview.content and b"cannot be undone" in preview.content
    assert not ErasureRequest.objects.exists()
    done = client.post("/admin/adapters/erasurerequest/erase/", {**form, "confirmed": "yes"})
    assert done.status_code == 302
    request = ErasureRequest.objects.get()
    assert (request.mode, request.requested_by) == ("pseudonymise", "admin:dpo")
    assert not Statement.objects.filter(payload__contains="pat.person").exists()
    assert client.get("/admin/adapters/erasurerequest/").status_code == 200
    assert client.get(f"/admin/adapters/erasurerequest/{request.pk}/change/").status_code == 200


def test_the_admin_says_which_voiding_statements_a_delete_keeps(client, xapi):
    lesson = make_statement(actor_email="lee.other@example.com", statement_id=str(uuid.uuid4()))
    voiding = make_statement(
        actor_email="pat.person@example.com",
        verb="http://adlnet.gov/expapi/verbs/voided",
        object={"objectType": "StatementRef", "id": lesson["id"]},
    )
    xapi.post_statements([lesson, voiding])
    client.force_login(get_user_model().objects.create_superuser("dpo", "dpo@example.com", "pw-for-tests"))
    form = {"agent": json.dumps(PERSON), "employee_id": "", "mode": "delete"}
    preview = client.post("/admin/adapters/erasurerequest/erase/", form)
    assert b"their own statements: 1 (deleted, except 1 voiding statement voiding another" in preview.content


def test_a_staff_user_who_is_not_a_superuser_cannot_erase(client, xapi):
    xapi.post_statements(make_statement(actor_email="pat.person@example.com"))
    staff = get_user_model().objects.create_user("clerk", "clerk@example.com", "pw-for-tests", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_erasurerequest"))
    client.force_login(staff)
    form = {"agent": json.dumps(PERSON), "employee_id": "", "mode": "delete", "confirmed": "yes"}
    client.post("/admin/adapters/erasurerequest/erase/", form)
    assert Statement.objects.exists() and not ErasureRequest.objects.exists()
