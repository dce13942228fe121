"""Migrations that rewrite tables keep their rows."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("lrs", "0006_ingest_foreign_keys_without_constraints")
COMPOSITE_KEYS = ("lrs", "0007_index_rows_composite_primary_keys")


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


def _primary_key_columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_index_rows_keep_their_values_when_keyed_by_statement_and_ifi():
    _migrate(BEFORE)
    try:
        assert _primary_key_columns("lrs_statementagent") == ["id"]
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO lrs_statementagent (statement_id, agent_ifi, direct, stored) VALUES "
                "(7, 'mailto:a@example.com', true, '2026-01-01T00:00:00Z'), "
                "(7, 'mailto:b@example.com', false, '2026-01-01T00:00:00Z')"
            )
            cursor.execute(
                "INSERT INTO lrs_statementactivity (statement_id, activity_id, direct, stored) VALUES "
                "(7, 'https://example.com/a', true, '2026-01-01T00:00:00Z')"
            )
    finally:
        _migrate(COMPOSITE_KEYS)
    assert _primary_key_columns("lrs_statementagent") == ["statement_id", "agent_ifi"]
    assert _primary_key_columns("lrs_statementactivity") == ["statement_id", "activity_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_id, agent_ifi, direct FROM lrs_statementagent ORDER BY agent_ifi")
        assert cursor.fetchall() == [(7, "mailto:a@example.com", True), (7, "mailto:b@example.com", False)]
        cursor.execute("SELECT statement_id, activity_id, direct FROM lrs_statementactivity")
        assert cursor.fetchall() == [(7, "https://example.com/a", True)]
        # The key's index replaced the one on statement alone.
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'stmtagent_statement'")
        assert cursor.fetchone() == (0,)
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lrs_statementagent (statement_id, agent_ifi, direct, stored) "
            "VALUES (7, 'mailto:a@example.com', false, now())"
        )


ATTACHMENT_REFERENCES = ("lrs", "0008_statement_attachment_references")


def _insert_statement(cursor, pk: int, payload: str) -> None:
    cursor.execute(
        "INSERT INTO lrs_statement (id, statement_id, payload, stored, timestamp, version, verb_id, "
        "object_type, is_voiding, voided) VALUES (%s, %s, %s, now(), now(), '1.0.0', 'v', 'Activity', "
        "false, false)",
        [pk, str(uuid.uuid4()), payload],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_statements_stored_before_attachment_references_get_theirs():
    _migrate(COMPOSITE_KEYS)
    own = {"sha2": "a" * 64, "usageType": "u", "contentType": "text/plain", "length": 1, "display": {}}
    inner = {**own, "sha2": "b" * 64}
    payloads = {
        1: json.dumps({"attachments": [own, own], "object": {"id": "x"}}),
        2: json.dumps({"object": {"objectType": "SubStatement", "attachments": [inner]}}),
        # Only text mentioning attachments: no row.
        3: json.dumps({"object": {"id": "x"}, "result": {"response": '"attachments" in a response'}}),
        # Stored with Infinity before number-range: still read.
        4: '{"attachments": [' + json.dumps(inner) + '], "result": {"score": {"raw": Infinity}}}',
        5: json.dumps({"object": {"id": "x"}}),
    }
    with connection.cursor() as cursor:
        for pk, payload in payloads.items():
            _insert_statement(cursor, pk, payload)
    _migrate(ATTACHMENT_REFERENCES)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_id, sha2 FROM lrs_statementattachment ORDER BY statement_id, sha2")
        assert cursor.fetchall() == [(1, "a" * 64), (2, "b" * 64), (4, "b" * 64)]


ERASURE_MARK = ("lrs", "0010_erasure_mark")
GROUP_MEMBERS = ("lrs", "0011_group_members_match_the_agent_filter")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_members_of_a_group_actor_stored_before_are_filed_as_direct():
    """Communication 2.1.3, ``agent``: a Group actor or object matches its members; statements
    stored before filed them as related only. A team's members stay related."""
    _migrate(ERASURE_MARK)
    try:
        group = {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]}
        team = {"objectType": "Group", "member": [{"mbox": "mailto:t@example.com"}]}
        with connection.cursor() as cursor:
            _insert_statement(cursor, 7, json.dumps({"actor": group, "context": {"team": team}}))
            _insert_statement(cursor, 8, json.dumps({"actor": {"mbox": "mailto:b@example.com"}}))
            cursor.execute(
                "INSERT INTO lrs_statementagent (statement_id, agent_ifi, direct, stored) VALUES "
                "(7, 'mbox::mailto:a@example.com', false, now()), "
                "(7, 'mbox::mailto:t@example.com', false, now()), "
                "(8, 'mbox::mailto:b@example.com', true, now())"
            )
    finally:
        _migrate(GROUP_MEMBERS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_id, agent_ifi, direct FROM lrs_statementagent ORDER BY agent_ifi")
        assert cursor.fetchall() == [
            (7, "mbox::mailto:a@example.com", True),
            (8, "mbox::mailto:b@example.com", True),
            (7, "mbox::mailto:t@example.com", False),
        ]


REFERRING_BY_ID = ("lrs", "0012_referring_statements_by_id")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_credentials_holding_all_before_the_upgrade_keep_the_identity_api():
    """``all`` no longer implies ``identity/write`` (lrs.credentials.scopes): a credential that
    used it, an HRIS feed's, is granted it by name on upgrade instead of being refused silently."""
    _migrate(REFERRING_BY_ID)
    executor = MigrationExecutor(connection)
    old = executor.loader.project_state([REFERRING_BY_ID]).apps.get_model("lrs", "Credential")
    before = {
        "hris-feed": ["all"],
        "revoked": ["all", "statements/write"],
        "explicit": ["all", "identity/write"],
        "reader": ["statements/read"],
        "identity-only": ["identity/write"],
    }
    for name, scopes in before.items():
        old.objects.create(
            name=name, key=name, secret_digest="0" * 64, scopes=scopes, is_active=name != "revoked"
        )
    _migrate_to_latest()
    from lrs.credentials.models import Credential

    assert dict(Credential.objects.values_list("name", "scopes")) == {
        "hris-feed": ["all", "identity/write"],
        "revoked": ["all", "statements/write", "identity/write"],
        "explicit": ["all", "identity/write"],
        "reader": ["statements/read"],
        "identity-only": ["identity/write"],
    }
    assert Credential.objects.get(name="hris-feed").allows("identity/write")


def _migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
