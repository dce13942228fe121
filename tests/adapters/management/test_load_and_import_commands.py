"""The commands that load configuration and identities: ``load_targets``, ``import_identities`` and
``load_demo_data``. A dry run reports what the real run then does and changes nothing; a file that
is named but cannot be read exits 1 naming it; no file at all is nothing to do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import CommandError

from adapters.models import CompetencyMapping, IdentityChange, IdentityLink, Target
from tests.adapters.management.conftest import database, run

pytestmark = pytest.mark.django_db

HOOK_CONFIG = {"url": "https://hooks.example.com/x", "secret": {"env": "HOOK_SECRET"}}


def targets_file(tmp_path: Path, *entries: dict) -> str:
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(list(entries)))
    return str(path)


def test_a_targets_dry_run_names_new_changed_and_disabled_targets_and_changes_nothing(tmp_path):
    run("load_targets", targets_file(tmp_path, {"name": "kept", "adapter": "webhook", "config": HOOK_CONFIG}))
    run("load_targets", targets_file(tmp_path, {"name": "gone", "adapter": "webhook", "config": HOOK_CONFIG}))
    Target.objects.filter(name="kept").update(enabled=True)
    path = targets_file(
        tmp_path,
        {"name": "kept", "adapter": "webhook", "config": HOOK_CONFIG, "filter": {"success": True}},
        {"name": "fresh", "adapter": "webhook", "config": HOOK_CONFIG},
    )
    before = database()

    dry, _ = run("load_targets", path, "--dry-run")

    assert database() == before
    assert dry.strip() == (
        "would load 2 target(s): kept, fresh (1 new, 1 changed; disabled, no longer in the file: gone; "
        "dry run, nothing changed)"
    )
    real, _ = run("load_targets", path)
    assert (
        real.strip()
        == "loaded 2 target(s): kept, fresh (1 new, 1 changed; disabled, no longer in the file: gone)"
    )
    assert not Target.objects.get(name="gone").enabled
    again, _ = run("load_targets", path)
    assert again.strip() == "loaded 2 target(s): kept, fresh (0 new, 0 changed)"


def test_a_targets_file_that_cannot_be_read_exits_1_naming_it(tmp_path):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(CommandError, match=f"cannot read {re.escape(str(missing))}"):
        run("load_targets", str(missing), "--dry-run")


def test_no_targets_file_at_all_is_nothing_to_do(settings):
    settings.LRS_TARGETS_FILE = ""
    out, _ = run("load_targets")
    assert out.strip() == "nothing to do: no PATH given and LRS_TARGETS_FILE is not set"


def test_an_identities_dry_run_counts_the_links_and_changes_nothing(tmp_path):
    path = tmp_path / "links.csv"
    path.write_text("employee_id,email\nE1,ada@example.com\nE2,bob@example.com\n")
    before = database()

    dry, _ = run("import_identities", str(path), "--dry-run")

    assert database() == before
    assert dry.strip() == "2 rows: 2 new links, 0 removed, 0 moved (dry run, nothing changed)"
    real, _ = run("import_identities", str(path))
    assert real.strip() == "2 rows: 2 new links, 0 removed, 0 moved"
    assert IdentityLink.objects.count() == 2 and IdentityChange.objects.exists()


def test_an_identities_dry_run_names_a_bad_row_like_the_real_import(tmp_path):
    path = tmp_path / "links.csv"
    path.write_text("employee_id,email,action\nE1,ada@example.com,add\nE2,bob@example.com,rename\n")
    with pytest.raises(CommandError, match="line 3: action: 'rename' is not add, remove or move"):
        run("import_identities", str(path), "--dry-run")
    assert not IdentityLink.objects.exists()


def test_an_identities_file_that_cannot_be_read_exits_1_naming_it(tmp_path):
    with pytest.raises(CommandError, match=r"cannot read .*nowhere\.csv"):
        run("import_identities", str(tmp_path / "nowhere.csv"))


def test_a_demo_data_dry_run_says_what_it_would_load_and_changes_nothing(settings):
    settings.LRS_ENV = "development"
    before = database()
    dry, _ = run("load_demo_data", "--dry-run")
    assert database() == before
    assert dry.startswith("demo data would be: ada@example.com -> employee E100") and "dry run" in dry
    run("load_demo_data")
    assert CompetencyMapping.objects.get(is_active=True).version == "demo-1"
    assert IdentityLink.objects.filter(employee_id="E100").exists()
