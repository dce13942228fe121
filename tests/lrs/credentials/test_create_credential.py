"""``manage.py create_credential``: idempotent provisioning, secrets printed only when generated."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lrs.credentials.models import Credential

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_credential", *args, stdout=out)
    return out.getvalue()


def test_creates_a_credential_and_prints_generated_key_and_secret():
    output = run("lms", "--scopes", "statements/write,statements/read")
    credential = Credential.objects.get(name="lms")
    assert credential.scopes == ["statements/write", "statements/read"]
    secret = output.split("secret: ")[1].strip()
    assert credential.check_secret(secret)
    assert f"key:    {credential.key}" in output


def test_running_twice_updates_in_place_and_keeps_the_secret():
    first = run("lms", "--scopes", "all", "--key", "lms-key", "--secret", "s3cret-value")
    second = run("lms", "--scopes", "statements/write", "--key", "lms-key")
    assert Credential.objects.count() == 1
    credential = Credential.objects.get()
    assert credential.scopes == ["statements/write"]
    assert credential.check_secret("s3cret-value")
    assert "s3cret-value" not in first + second
    assert "created" in first and "updated" in second


def test_unknown_scope_is_refused_with_the_known_list():
    with pytest.raises(CommandError, match="unknown scope"):
        run("lms", "--scopes", "everything")
    assert Credential.objects.count() == 0
