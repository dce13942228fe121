"""Whole-statement validation (Data 2.2, 2.3.2, 2.4; IEEE 9274.1.1 4.2)."""

from __future__ import annotations

import copy

import pytest

from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.statement import resolve_version, validate_statement
from tests.lrs.xapi.examples import (
    assert_rejected,
    cmi5_completed,
    planned_substatement,
    scorm_choice_answered,
    voiding,
    xapi2_team_game,
)

V1, V2 = "1.0.3", "2.0.0"
SIMPLEST = {  # Data 2.4 "the simplest possible Statement"
    "id": "12345678-1234-5678-1234-567812345678",
    "actor": {"mbox": "mailto:xapi@adlnet.gov"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/created", "display": {"en-US": "created"}},
    "object": {"id": "http://example.adlnet.gov/xapi/example/activity"},
}


def simplest(**changes) -> dict:
    statement = copy.deepcopy(SIMPLEST)
    statement.update(changes)
    return {key: value for key, value in statement.items() if value is not ...}


# -- valid statements ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [V1, "1.0.0", "1.0.1", "1.0", V2, "2.0", "2.0.1"])
@pytest.mark.parametrize(
    "example", [cmi5_completed, scorm_choice_answered, planned_substatement, voiding, lambda: simplest()]
)
def test_realistic_statements_are_valid_in_every_supported_version(example, version):
    validate_statement(example(), version=version)


def test_a_2_0_statement_with_context_agents_and_groups_is_valid_in_2_0():
    validate_statement(xapi2_team_game(), version=V2)


def test_validation_does_not_modify_the_statement():
    statement = cmi5_completed()
    validate_statement(statement)
    assert statement == cmi5_completed()


@pytest.mark.parametrize(
    "statement_object",
    [
        {"objectType": "Agent", "mbox": "mailto:jeff@example.com"},
        {"objectType": "Group", "member": [{"mbox": "mailto:jeff@example.com"}]},
        {"objectType": "Group", "account": {"homePage": "https://lms.example.com", "name": "team-7"}},
        {"objectType": "StatementRef", "id": "8f87ccde-bb56-4c2e-ab83-44982ef22df0"},
        {"objectType": "Activity", "id": "http://example.com/a"},
    ],
    ids=["agent", "anonymous group", "identified group", "statementref", "activity"],
)
def test_every_kind_of_object_is_accepted(statement_object):
    validate_statement(simplest(object=statement_object))


# -- structure -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[SIMPLEST], "statement", 42, None])
def test_a_statement_must_be_an_object(value):
    assert_rejected(
        lambda: validate_statement(value, path="statements[0]"),
        path="statements[0]",
        rule="not-null" if value is None else "type",
    )


@pytest.mark.parametrize("missing", ["actor", "verb", "object"])
def test_actor_verb_and_object_are_required(missing):
    assert_rejected(
        lambda: validate_statement(simplest(**{missing: ...})), path=f"statement.{missing}", rule="required"
    )


@pytest.mark.parametrize("name", ["objectType", "Actor", "comment", "context_activities"])
def test_unknown_top_level_properties_are_rejected(name):
    assert_rejected(
        lambda: validate_statement(simplest(**{name: "x"})), path=f"statement.{name}", rule="unknown-property"
    )


@pytest.mark.parametrize(
    "name", ["id", "result", "context", "timestamp", "stored", "authority", "version", "attachments"]
)
def test_null_top_level_properties_are_rejected(name):
    assert_rejected(
        lambda: validate_statement(simplest(**{name: None})), path=f"statement.{name}", rule="not-null"
    )


def test_nulls_deep_inside_are_rejected_at_their_path():
    statement = cmi5_completed()
    statement["context"]["contextActivities"]["parent"][0]["definition"] = {"name": None}
    assert_rejected(
        lambda: validate_statement(statement),
        path="statement.context.contextActivities.parent[0].definition.name",
        rule="not-null",
    )


def test_nulls_inside_extensions_are_allowed():
    statement = cmi5_completed()
    statement["result"]["extensions"]["http://example.com/null"] = None
    validate_statement(statement)


@pytest.mark.parametrize("statement_id", ["AA97B177-9383-4934-8543-0F91A7A028368", "1", 12345])
def test_statement_id_must_be_a_uuid(statement_id):
    assert_rejected(
        lambda: validate_statement(simplest(id=statement_id)),
        path="statement.id",
        rule="uuid" if isinstance(statement_id, str) else "type",
    )


def test_the_path_prefix_is_used_for_every_error():
    statement = cmi5_completed()
    statement["result"]["score"]["scaled"] = 1.5
    assert_rejected(
        lambda: validate_statement(statement, path="statements[3]"),
        path="statements[3].result.score.scaled",
        rule="score-range",
    )


def test_errors_serialise_with_path_and_rule():
    with pytest.raises(XAPIValidationError) as caught:
        validate_statement(
            simplest(actor={"mbox": "mailto:a@example.com", "openid": "http://o.example.com/1"})
        )
    body = caught.value.as_dict()
    assert body["path"] == "statement.actor"
    assert body["rule"] == "one-ifi"
    assert body["message"].startswith("statement.actor: ")
    assert caught.value.status == 400


# -- object ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "object_type", ["activity", "agent", "group", "statementref", "substatement", "Statement"]
)
def test_object_type_values_must_match_exactly(object_type):
    assert_rejected(
        lambda: validate_statement(
            simplest(object={"objectType": object_type, "id": "http://example.com/a"})
        ),
        path="statement.object.objectType",
        rule="objecttype",
    )


def test_an_agent_object_without_object_type_is_rejected():
    assert_rejected(
        lambda: validate_statement(simplest(object={"mbox": "mailto:jeff@example.com"})),
        path="statement.object.objectType",
        rule="objecttype",
    )


def test_a_null_object_type_is_rejected():
    assert_rejected(
        lambda: validate_statement(simplest(object={"objectType": None, "id": "http://example.com/a"})),
        path="statement.object.objectType",
        rule="not-null",
    )


def test_an_agent_object_is_validated_as_an_agent():
    assert_rejected(
        lambda: validate_statement(
            simplest(
                object={
                    "objectType": "Agent",
                    "mbox": "mailto:a@example.com",
                    "mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975",
                }
            )
        ),
        path="statement.object",
        rule="one-ifi",
    )


@pytest.mark.parametrize(
    ("statement_ref", "path", "rule"),
    [
        ({"objectType": "StatementRef"}, "statement.object.id", "required"),
        ({"objectType": "StatementRef", "id": "should fail"}, "statement.object.id", "uuid"),
        ({"objectType": "StatementRef", "id": 12345}, "statement.object.id", "type"),
        (
            {"objectType": "StatementRef", "id": "8f87ccde-bb56-4c2e-ab83-44982ef22df0", "definition": {}},
            "statement.object.definition",
            "unknown-property",
        ),
    ],
)
def test_statement_refs_need_exactly_object_type_and_a_uuid_id(statement_ref, path, rule):
    assert_rejected(lambda: validate_statement(simplest(object=statement_ref)), path=path, rule=rule)


# -- timestamps, stored, authority, attachments ----------------------------------------------------


@pytest.mark.parametrize("name", ["timestamp", "stored"])
@pytest.mark.parametrize("value", ["01/011/2015", "should fail", "2008-09-15T15:53:00.601-00:00"])
def test_timestamp_and_stored_must_be_iso8601(name, value):
    assert_rejected(
        lambda: validate_statement(simplest(**{name: value})), path=f"statement.{name}", rule="iso8601"
    )


def test_a_timestamp_without_offset_is_accepted_in_1_0_3_and_rejected_in_2_0():
    statement = simplest(timestamp="2024-05-04T17:00:00.000")
    validate_statement(statement, version=V1)
    assert_rejected(
        lambda: validate_statement(statement, version=V2), path="statement.timestamp", rule="iso8601"
    )


def test_a_future_timestamp_is_not_rejected():
    validate_statement(simplest(timestamp="2999-01-01T00:00:00Z"))


def test_a_substatement_timestamp_is_validated():
    statement = planned_substatement()
    statement["object"]["timestamp"] = "tomorrow"
    assert_rejected(lambda: validate_statement(statement), path="statement.object.timestamp", rule="iso8601")


def test_authority_groups_must_have_two_agents():
    statement = cmi5_completed()
    statement["authority"]["member"].pop()
    assert_rejected(lambda: validate_statement(statement), path="statement.authority", rule="authority")


def test_attachment_errors_name_the_attachment():
    statement = cmi5_completed()
    statement["attachments"].append(dict(statement["attachments"][0], sha2="not-a-hash"))
    assert_rejected(lambda: validate_statement(statement), path="statement.attachments[1].sha2", rule="sha2")


# -- version ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.0", "1.0.0", "1.0.3", "1.0.9"])
def test_statement_version_1_0_x_is_accepted(value):
    validate_statement(simplest(version=value), version=V1)
    validate_statement(simplest(version=value), version=V2)


@pytest.mark.parametrize("value", ["2.0.0", "2.0", "2.0.1"])
def test_statement_version_2_0_x_is_accepted_only_in_2_0(value):
    validate_statement(simplest(version=value), version=V2)
    assert_rejected(
        lambda: validate_statement(simplest(version=value), version=V1),
        path="statement.version",
        rule="version",
    )


@pytest.mark.parametrize(
    "value", ["should fail", "0.9.9", "1.1.0", "0.95", "2.1.0", "3.0.0", "1.0.", "v1.0.0", "1.0.0-beta"]
)
@pytest.mark.parametrize("version", [V1, V2])
def test_other_statement_versions_are_rejected(value, version):
    assert_rejected(
        lambda: validate_statement(simplest(version=value), version=version),
        path="statement.version",
        rule="version",
    )


def test_statement_version_must_be_a_string():
    assert_rejected(lambda: validate_statement(simplest(version=1.0)), path="statement.version", rule="type")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1.0", V1), ("1.0.0", V1), ("1.0.2", V1), ("2.0", V2), ("2.0.0", V2), ("2.0.7", V2)],
)
def test_any_patch_version_selects_its_rule_set(given, expected):
    assert resolve_version(given) == expected


@pytest.mark.parametrize("given", ["0.95", "1.1.0", "3.0.0", "", "latest"])
def test_unsupported_request_versions_are_rejected(given):
    assert_rejected(
        lambda: validate_statement(simplest(), version=given), path="X-Experience-API-Version", rule="version"
    )
