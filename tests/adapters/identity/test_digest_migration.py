"""Upgrading derives the SHA-1 forms of the addresses linked before (migration 0029): a statement
by the SHA-1 of such an address resolves to its employee without linking it again."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("adapters", "0028_skill_record_evidence_aged_out")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_schema_afterwards")
def test_addresses_linked_before_the_upgrade_resolve_their_sha1_after_it():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    IdentityLink = executor.loader.project_state([BEFORE]).apps.get_model("adapters", "IdentityLink")
    IdentityLink.objects.create(
        employee_id="E1", kind="email", value="Ada@Example.com", lookup_key="email:ada@example.com"
    )
    IdentityLink.objects.create(
        employee_id="E2", kind="account", value="https://hr.example.com e2", lookup_key="account::x::e2"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from adapters.identity.resolution import employee_for_actor

    for spelled in ("Ada@Example.com", "Ada@example.com", "ada@example.com"):
        digest = hashlib.sha1(f"mailto:{spelled}".encode()).hexdigest()
        assert employee_for_actor({"mbox_sha1sum": digest}) == "E1", spelled
