"""Target configuration: validated with messages naming the field; secrets only as references."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from adapters.config import ConfigProblem, validate_target_config
from adapters.models import Target
from adapters.registry import UnknownAdapter, adapter_class, adapter_names
from adapters.targets.file import read_targets_file, sync_targets_file

GOOD_CONFIG = {"url": "https://hooks.example.com/x", "secret": {"env": "HOOK_SECRET"}}


def test_registry_knows_the_webhook_adapter_and_names_the_known_ones_for_a_typo():
    assert "webhook" in adapter_names()
    assert adapter_class("webhook").name == "webhook"
    with pytest.raises(UnknownAdapter, match=r"known: .*webhook"):
        adapter_class("webhok")


def test_a_plain_text_secret_is_refused():
    with pytest.raises(ConfigProblem, match=r"config.secret is a secret"):
        validate_target_config(
            adapter="webhook", config={**GOOD_CONFIG, "secret": "hunter2"}, filter_rules={}
        )


def test_missing_and_wrong_fields_are_named():
    with pytest.raises(ConfigProblem, match="'url' is a required property"):
        validate_target_config(adapter="webhook", config={"secret": {"env": "X"}}, filter_rules={})
    with pytest.raises(ConfigProblem, match=r"config.url: 'ftp://x' does not match"):
        validate_target_config(adapter="webhook", config={**GOOD_CONFIG, "url": "ftp://x"}, filter_rules={})
    with pytest.raises(ConfigProblem, match=r"filter.min_scaled_score"):
        validate_target_config(adapter="webhook", config=GOOD_CONFIG, filter_rules={"min_scaled_score": 3})


@pytest.mark.django_db
def test_model_validation_reports_the_field_for_admin():
    target = Target(name="t", adapter="webhook", config={"url": "https://x"})
    with pytest.raises(ValidationError) as caught:
        target.full_clean()
    assert "config" in caught.value.message_dict


def test_targets_file_errors_name_the_entry(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps([{"name": "a", "adapter": "webhook", "config": {"url": "https://x"}}]))
    with pytest.raises(ConfigProblem, match=r"targets.0 \(a\): .*'secret' is a required property"):
        read_targets_file(str(path))
    path.write_text("[not json")
    with pytest.raises(ConfigProblem, match="not valid JSON"):
        read_targets_file(str(path))


@pytest.mark.django_db
def test_targets_file_is_upserted_and_removed_entries_are_disabled(tmp_path):
    path = tmp_path / "targets.json"
    entries = [
        {"name": "a", "adapter": "webhook", "config": GOOD_CONFIG},
        {"name": "b", "adapter": "webhook", "config": GOOD_CONFIG, "filter": {"success": True}},
    ]
    path.write_text(json.dumps(entries))
    assert sync_targets_file(str(path)) == ["a", "b"]
    assert sync_targets_file(str(path)) == ["a", "b"]  # idempotent
    assert Target.objects.get(name="b").filter == {"success": True}
    path.write_text(json.dumps(entries[:1]))
    sync_targets_file(str(path))
    removed = Target.objects.get(name="b")
    assert not removed.enabled and "removed" in removed.disabled_reason
    assert Target.objects.count() == 2


@pytest.mark.django_db
def test_system_check_names_a_stored_target_whose_config_no_longer_fits():
    from django.core.checks import run_checks

    Target.objects.create(name="broken", adapter="webhook", config={"url": "https://x"})
    errors = [e for e in run_checks(databases=["default"]) if e.id == "adapters.E001"]
    assert (
        len(errors) == 1 and "broken" in errors[0].msg and "'secret' is a required property" in errors[0].msg
    )
