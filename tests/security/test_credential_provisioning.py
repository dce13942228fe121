"""Provisioning a chosen secret: from a file (the Docker / Kubernetes secret convention the settings
follow, config/env.py), so it never sits in a shell history or the process list as ``--secret``
does; and an operator-chosen secret strong enough for the fast digest the table keeps."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from lrs.credentials.models import Credential

pytestmark = pytest.mark.django_db

SECRET = "provisioned-secret-6b2e0c1d9f"


def test_create_credential_reads_the_secret_from_a_file_and_never_prints_it(tmp_path: Path) -> None:
    path = tmp_path / "lms_secret"
    path.write_text(SECRET + "\n")
    out = io.StringIO()
    call_command("create_credential", "lms", "--scopes", "all", "--secret-file", str(path), stdout=out)
    assert Credential.objects.get(name="lms").check_secret(SECRET)
    assert SECRET not in out.getvalue() and "secret:" not in out.getvalue()


def test_create_credential_refuses_an_unreadable_or_empty_secret_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path in (tmp_path / "missing", empty):
        with pytest.raises(CommandError, match=r"--secret-file: .*(cannot be read|is empty)"):
            call_command("create_credential", "lms", "--scopes", "all", "--secret-file", str(path))
    assert not Credential.objects.exists()


@pytest.mark.xfail(
    strict=True,
    reason="product decision: secrets are kept as one unsalted SHA-256 (fast on purpose: one per "
    "request), safe for the generated 43-character secrets but crackable offline for a short "
    "operator-chosen one (admin new_secret, --secret); a minimum length (e.g. 16) would refuse "
    "what tests/lrs/credentials/test_command_dry_runs.py and existing provisioning scripts pass",
)
def test_an_operator_chosen_secret_shorter_than_16_characters_is_refused() -> None:
    with pytest.raises(CommandError):
        call_command("create_credential", "lms", "--scopes", "all", "--secret", "password")
