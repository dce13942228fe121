"""A credential's key with a colon is refused by the admin form, naming the key and the rule, as
``create_credential`` refuses it: HTTP Basic splits the credentials at the first colon (RFC 7617
section 2: "a user-id containing a colon character is invalid"), so such a key never
authenticates. Before, the admin saved it ("was added successfully")."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert

pytestmark = pytest.mark.django_db


def test_a_key_with_a_colon_is_refused_on_the_credential_form(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests"))
    response = client.post(
        "/admin/lrs/credential/add/", {"name": "lms", "key": "lms:1", "scopes": ["all"], "is_active": "on"}
    )
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    assert "adminform" in response.context, "saved: the page showing its generated secret came back"
    errors = response.context["adminform"].form.errors
    assert any("colon" in message and "RFC 7617" in message for message in errors.get("key", [])), dict(
        errors
    )
    assert not Credential.objects.exists()


def test_a_credential_saved_with_a_colon_before_the_rule_can_still_be_deactivated(client):
    """A key with a colon saved before the rule (it never authenticated) is the operator's to
    switch off or rescope; the form refused the unchanged key, so nothing but deletion was left."""
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests"))
    credential = credential_upsert(name="lms", scopes=["all"], key="lms-key").credential
    Credential.objects.filter(pk=credential.pk).update(key="lms:1")  # as saved before the rule
    response = client.post(
        f"/admin/lrs/credential/{credential.pk}/change/", {"name": "lms", "key": "lms:1", "scopes": ["all"]}
    )
    assert response.status_code == 302, response.context and dict(response.context["adminform"].form.errors)
    assert Credential.objects.get(pk=credential.pk).is_active is False
