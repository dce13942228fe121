"""Django admin: statements are browsable (filters, search, pretty JSON) and read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from lrs.credentials.models import Credential
from lrs.statements.models import Statement
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def stored(xapi):
    ann = xapi.post_statements(make_statement(actor_email="ann@example.com")).json()[0]
    bob = xapi.post_statements(
        make_statement(actor_email="bob@example.com", verb="http://adlnet.gov/expapi/verbs/passed")
    ).json()[0]
    return ann, bob


def listed(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_changelist_filters_by_verb_actor_activity_and_voided(admin_client, stored):
    ann, bob = stored
    url = "/admin/lrs/statement/"
    page = listed(admin_client.get(url, {"verb": "http://adlnet.gov/expapi/verbs/passed"}))
    assert bob in page and ann not in page
    page = listed(admin_client.get(url, {"actor": "ann@example.com"}))
    assert ann in page and bob not in page
    page = listed(admin_client.get(url, {"activity": "http://example.com/courses/safety-101"}))
    assert ann in page and bob in page
    page = listed(admin_client.get(url, {"voided__exact": "1"}))
    assert ann not in page and bob not in page


def test_search_by_statement_id(admin_client, stored):
    ann, bob = stored
    page = listed(admin_client.get("/admin/lrs/statement/", {"q": ann}))
    assert ann in page and bob not in page
    assert listed(admin_client.get("/admin/lrs/statement/", {"q": "not-a-uuid"}))


def test_change_view_shows_pretty_json_and_no_save_button(admin_client, stored):
    ann, _ = stored
    row = Statement.objects.get(statement_id=ann)
    page = listed(admin_client.get(f"/admin/lrs/statement/{row.pk}/change/"))
    assert "&quot;mbox&quot;: &quot;mailto:ann@example.com&quot;" in page
    assert 'name="_save"' not in page
    assert admin_client.post(f"/admin/lrs/statement/{row.pk}/delete/").status_code == 403


def test_adding_a_credential_in_admin_shows_the_generated_secret_once(admin_client):
    # The answer to the add shows it (never a message: tests/security/test_generated_secret_display.py).
    response = admin_client.post(
        "/admin/lrs/credential/add/",
        {"name": "lms", "key": "", "scopes": ["statements/write"], "is_active": "on", "new_secret": ""},
    )
    assert response.status_code == 200
    credential = Credential.objects.get(name="lms")
    secret = response.content.decode().split('id="generated-secret">')[1].split("<")[0]
    assert credential.check_secret(secret)
    assert secret not in admin_client.get("/admin/lrs/credential/").content.decode()
