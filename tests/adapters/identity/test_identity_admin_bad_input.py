"""Adding an identity link in the admin with a value or kind the identity map cannot take is
refused on the form, naming the field and the rule, and nothing is stored. Before, the form
accepted any kind (the select is only a widget: the model field has no choices) and any value;
the save then failed in the service, whose error was shown as a message next to Django's "was
added successfully" (nothing was), and an unknown kind was reported as an mbox_sha1sum's error.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from adapters.models import IdentityChange, IdentityLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("kind", "value", "field", "rule"),
    [
        ("email", "not-an-address", "value", "not an e-mail address"),
        ("account", "no-space-so-no-name", "value", "homePage and name are both required"),
        ("mbox_sha1sum", "abc", "value", "not a 40-digit hex SHA-1"),
        ("phone", "+1 555 0100", "kind", "phone"),
    ],
)
def test_a_link_the_identity_map_cannot_take_is_refused_on_the_form(admin, kind, value, field, rule):
    response = admin.post(
        "/admin/adapters/identitylink/add/", {"employee_id": "E1", "kind": kind, "value": value}
    )
    assert response.status_code == 200, (response.status_code, response.get("Location"))
    errors = response.context["adminform"].form.errors
    assert any(rule in message for message in errors.get(field, [])), dict(errors)
    assert not [str(m) for m in get_messages(response.wsgi_request) if "successfully" in str(m)]
    assert not IdentityLink.objects.exists() and not IdentityChange.objects.exists()
