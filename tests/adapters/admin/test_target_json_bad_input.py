"""A target's configuration and filter JSON, in the admin's target form and in the targets file
(``manage.py load_targets``, ``LRS_TARGETS_FILE``), are read as the xAPI resources read JSON: nested
beyond ``LRS_MAX_JSON_DEPTH`` (rule ``json-depth``; was: RecursionError, a 500 from the admin and a
traceback from the command), a lone surrogate escape (rule ``unpaired-surrogate``; was: a 500,
UnicodeEncodeError, from the admin) or a property twice (rule ``duplicate-property``; was: the
last kept silently) is refused naming the field and the rule, and nothing is saved.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from adapters.models import Target
from tests.adapters.management.conftest import run

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
HOOK = '"url": "https://hooks.example.com/x", "secret": {"env": "HOOK_SECRET"}'

# (field, its text, rule)
BAD = [
    ("config", DEEP, "json-depth"),
    ("filter", DEEP, "json-depth"),
    ("config", "{" + HOOK + ', "timeout_seconds": "\\ud800"}', "unpaired-surrogate"),
    ("filter", '{"verb": "\\ud800"}', "unpaired-surrogate"),
    ("config", "{" + HOOK + ', "url": "https://other.example.com/y"}', "duplicate-property"),
]


@pytest.mark.parametrize(
    ("field", "text", "rule"), BAD, ids=["deep config", "deep filter", "sur config", "sur filter", "twice"]
)
def test_a_target_json_field_not_read_strictly_is_refused_in_the_admin_naming_field_and_rule(
    admin_client, monkeypatch, field, text, rule
):
    monkeypatch.setenv("HOOK_SECRET", "x")
    data = {
        "name": "hook",
        "adapter": "webhook",
        "enabled": "on",
        "receives": "statements",
        "config": "{" + HOOK + "}",
        "filter": "{}",
        "rate_limit_per_second": "1",
        "concurrency": "1",
        "max_attempts": "3",
        field: text,
    }
    response = admin_client.post("/admin/adapters/target/add/", data)
    assert response.status_code == 200, response.status_code
    errors = response.context["adminform"].form.errors
    assert any(f"(rule {rule})" in message for message in errors.get(field, [])), dict(errors)
    assert not Target.objects.exists()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (DEEP, "json-depth"),
        (
            '[{"name": "hook", "adapter": "webhook", "config": {' + HOOK + '}, "name": "other"}]',
            "duplicate-property",
        ),
    ],
    ids=["deep", "twice"],
)
def test_a_targets_file_not_read_strictly_is_refused_naming_it_and_the_rule(
    tmp_path, monkeypatch, text, rule
):
    monkeypatch.setenv("HOOK_SECRET", "x")
    path = tmp_path / "targets.json"
    path.write_text(text)
    with pytest.raises(CommandError) as refused:
        run("load_targets", str(path))
    assert str(path) in str(refused.value) and f"(rule {rule})" in str(refused.value), str(refused.value)
    assert not Target.objects.exists()
