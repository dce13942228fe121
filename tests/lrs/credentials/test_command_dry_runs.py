"""The lrs commands' dry runs: ``create_credential --dry-run`` says whether it would create or update
and prints no secret; ``quickstart_accounts --dry-run`` says what it would reset. Neither changes
anything."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from lrs.credentials.models import Credential
from lrs.credentials.services import credential_upsert

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def rows() -> list[list[dict]]:
    return [list(Credential.objects.order_by("pk").values()), list(get_user_model().objects.values())]


def test_a_credential_dry_run_says_created_prints_no_secret_and_creates_nothing():
    out = run("create_credential", "lms", "--scopes", "statements/write", "--dry-run")
    assert (
        out.strip()
        == "credential 'lms' would be created; scopes: statements/write (dry run, nothing changed)"
    )
    assert not Credential.objects.exists()


def test_a_credential_dry_run_of_an_existing_one_says_updated_and_keeps_it_as_it_was():
    credential_upsert(name="lms", scopes=["all"], key="lms-key", secret="s3cret-value")
    before = rows()
    out = run("create_credential", "lms", "--scopes", "statements/read", "--secret", "other", "--dry-run")
    assert rows() == before
    assert "would be updated" in out and "other" not in out


def test_a_quickstart_accounts_dry_run_says_what_it_would_create_and_changes_nothing(settings):
    settings.LRS_ENV = "development"
    out = run("quickstart_accounts", "--dry-run")
    assert out.strip() == (
        "would create the admin user 'admin' (a new password), create the demo credential "
        "and create the demo HRIS credential (new secrets) (dry run, nothing changed)"
    )
    assert rows() == [[], []]
    run("quickstart_accounts")
    before = rows()
    assert "would reset the admin user" in run("quickstart_accounts", "--dry-run")
    assert rows() == before


def test_quickstart_accounts_prints_the_address_the_quickstart_serves_on(settings, monkeypatch):
    settings.LRS_ENV = "development"
    monkeypatch.setenv("LRS_ADDRESS", "127.0.0.1:8400")
    out = run("quickstart_accounts")
    assert "http://127.0.0.1:8400/admin/" in out and "http://127.0.0.1:8400/xapi/statements" in out
    assert "8000" not in out
