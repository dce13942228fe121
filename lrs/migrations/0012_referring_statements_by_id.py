# Written by hand, 2026-12-07: referring statements (a StatementRef object) by their own id, built
# CONCURRENTLY on PostgreSQL (_concurrently). The query filters follow a chain of StatementRefs
# only where a target refers on (lrs.statements.selectors._referring_keys).

from django.db import migrations, models

from lrs.migrations._concurrently import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("lrs", "0011_group_members_match_the_agent_filter"),
    ]

    operations = [
        add_index_concurrently(
            "statement",
            models.Index(
                condition=models.Q(("object_statement_id__isnull", False)),
                fields=["statement_id"],
                name="stmt_refs_by_id",
            ),
        ),
    ]
