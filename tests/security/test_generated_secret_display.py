"""A credential secret the admin generates is shown once, in the answer to the add itself: never
in a cookie (Django's default message storage keeps messages in a signed, not encrypted, cookie:
the secret would travel back with every request and rest in the browser's cookie store), nor in
the session, and the page showing it is not cached. The admin's flow goes on from that page to
where saving would have led (the list, the credential, another add)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import Client

from lrs.credentials.models import Credential

pytestmark = pytest.mark.django_db

FORM = {"name": "lms", "key": "", "scopes": ["statements/write"], "is_active": "on", "new_secret": ""}


@pytest.fixture
def admin(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def cookies_text(client: Client) -> str:
    """Every cookie the client holds, the message cookie decoded (it may be compressed)."""
    parts = []
    for name, morsel in client.cookies.items():
        parts.append(f"{name}={morsel.value}")
        if name == "messages" and morsel.value:
            decoded = CookieStorage(HttpRequest())._decode(morsel.value) or []
            parts += [str(message) for message in decoded]
    return "\n".join(parts)


def words(text: str) -> set[str]:
    """Runs of the characters a generated secret is made of (URL-safe base64)."""
    return set(re.findall(r"[A-Za-z0-9_-]{20,}", text))


def secrets_in(text: str, credential: Credential) -> list[str]:
    """The words of ``text`` the credential's digest accepts: its secret, wherever it shows."""
    return [word for word in words(text) if credential.check_secret(word)]


@pytest.mark.parametrize(
    ("button", "continues_to"),
    [("_save", ""), ("_continue", "{pk}/change/"), ("_addanother", "add/")],
)
def test_a_generated_secret_is_shown_once_in_the_answer_and_never_kept_in_a_cookie(
    admin, button, continues_to
):
    response = admin.post("/admin/lrs/credential/add/", {**FORM, button: "1"})
    credential = Credential.objects.get(name="lms")
    assert secrets_in(cookies_text(admin), credential) == [], "the generated secret is in a cookie"
    assert secrets_in(str(dict(admin.session.items())), credential) == []
    assert response.status_code == 200, response.get("Location")
    page = response.content.decode()
    [secret] = secrets_in(page, credential)
    assert credential.key in page
    assert "no-store" in response.get("Cache-Control", "")
    assert f'href="/admin/lrs/credential/{continues_to.format(pk=credential.pk)}"' in page
    # Going on: the next page shows the secret nowhere, and no cookie holds it.
    following = admin.get("/admin/lrs/credential/")
    assert secret not in following.content.decode() and secret not in cookies_text(admin)
