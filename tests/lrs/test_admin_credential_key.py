"""A credential's key with a colon is refused by the admin form, naming the key and the rule, as
``create_credential`` refuses it: HTTP Basic splits the credentials at the first colon (RFC 7617
section 2: "a user-id containing a colon character is invalid"), so such a key never
authenticates. Before, the admin saved it ("was added successfully")."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from lrs.credentials.models import Credential

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
