# Written by hand, 2026-12-07, as 0009: on PostgreSQL the index is built CONCURRENTLY, so
# statements go on being stored meanwhile; elsewhere (SQLite) the schema editor does it.
# Referring statements (a StatementRef object) by their own id: the query filters follow a chain
# of StatementRefs only where a target refers on (lrs.statements.selectors._referring_keys).

from django.db import migrations, models

INDEX = models.Index(
    condition=models.Q(("object_statement_id__isnull", False)),
    fields=["statement_id"],
    name="stmt_refs_by_id",
)


def forwards(apps, schema_editor) -> None:
    model = apps.get_model("lrs", "Statement")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(model, INDEX)
        return
    # An earlier try that failed half-way leaves an invalid index of that name behind.
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(INDEX.name)}")
    schema_editor.add_index(model, INDEX, concurrently=True)


def backwards(apps, schema_editor) -> None:
    model = apps.get_model("lrs", "Statement")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, INDEX)
        return
    schema_editor.remove_index(model, INDEX, concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("lrs", "0011_group_members_match_the_agent_filter"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="statement", index=INDEX)],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
