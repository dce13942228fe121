"""Target configuration in the admin and in ``manage.py check``: every problem reported at once
with its path, the closest alternative of a oneOf explained, secrets that cannot be read here
refused, and the adapter's fields described next to the JSON."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from adapters.admin.forms import TargetForm
from adapters.models import Target
from adapters.targets.checks import check_targets, config_errors

pytestmark = pytest.mark.django_db


def form(adapter: str, config: dict) -> TargetForm:
    return TargetForm(
        data={
            "name": "t",
            "adapter": adapter,
            "enabled": "on",
            "receives": "statements",
            "config": json.dumps(config),
            "filter": "{}",
            "concurrency": "4",
            "max_attempts": "3",
        }
    )


def test_every_config_problem_is_reported_at_once_with_its_path(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "x")
    config = {"url": "ftp://x", "secret": {"env": "HOOK_SECRET"}, "timeout_seconds": 0, "x": 1}
    bound = form("webhook", config)
    assert not bound.is_valid()
    errors = bound.errors["config"]
    assert any("config.url" in error and "does not match" in error for error in errors)
    assert any("config.timeout_seconds" in error for error in errors)
    assert any("'x' was unexpected" in error for error in errors)


def test_slack_one_of_failure_names_the_missing_fields_of_the_chosen_mode():
    errors = config_errors("slack", {"mode": "bot", "default_channel": "#learning"})
    assert errors == ["config: 'bot_token' is a required property"]
    assert not any("is not valid under any of the given schemas" in error for error in errors)


def test_secret_naming_an_unset_environment_variable_is_refused_at_save(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    bound = form("webhook", {"url": "https://example.com/hook", "secret": {"env": "NOT_SET_ANYWHERE"}})
    assert not bound.is_valid()
    assert bound.errors["config"] == ["config.secret: environment variable NOT_SET_ANYWHERE is not set"]


def test_secret_file_that_does_not_exist_is_refused_at_save(tmp_path):
    bound = form("webhook", {"url": "https://example.com/hook", "secret": {"file": str(tmp_path / "nope")}})
    assert not bound.is_valid()
    assert "cannot be read" in bound.errors["config"][0]


def test_valid_config_with_a_set_secret_saves(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "x")
    bound = form("webhook", {"url": "https://example.com/hook", "secret": {"env": "HOOK_SECRET"}})
    assert bound.is_valid(), bound.errors
    assert bound.save().config["secret"] == {"env": "HOOK_SECRET"}


def test_config_field_explains_each_adapters_fields():
    help_text = str(form("webhook", {}).fields["config"].help_text)
    assert 'data-adapter="slack"' in help_text and "xoxb- token" in help_text
    assert "<code>url</code> *" in help_text


def test_manage_py_check_refuses_a_target_whose_secret_variable_is_unset(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    Target.objects.create(
        name="lost",
        adapter="webhook",
        config={"url": "https://example.com/hook", "secret": {"env": "NOT_SET_ANYWHERE"}},
    )
    [error] = check_targets(databases=["default"])
    assert error.id == "adapters.E002"
    assert "'lost'" in error.msg and "NOT_SET_ANYWHERE" in error.msg
    with pytest.raises(SystemCheckError, match="NOT_SET_ANYWHERE"):
        call_command("check", databases=["default"], stdout=io.StringIO(), stderr=io.StringIO())
