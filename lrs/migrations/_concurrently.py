"""Adding an index to the statement table CONCURRENTLY on PostgreSQL, for migrations written by
hand (0009, 0012): statements go on being stored meanwhile, where a plain CREATE INDEX would block
every write to the table for a whole scan of it (seconds per million statements). Elsewhere
(SQLite) the schema editor does it. A migration using it sets ``atomic = False``: CREATE/DROP
INDEX CONCURRENTLY cannot run inside a transaction. (A name starting with ``_``: Django's loader
takes it for no migration.)"""

from django.db import migrations, models


def add_index_concurrently(model_name: str, index: models.Index) -> migrations.SeparateDatabaseAndState:
    def forwards(apps, schema_editor) -> None:
        model = apps.get_model("lrs", model_name)
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_index(model, index)
            return
        # An earlier try that failed half-way leaves an invalid index of that name behind.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(index.name)}")
        schema_editor.add_index(model, index, concurrently=True)

    def backwards(apps, schema_editor) -> None:
        model = apps.get_model("lrs", model_name)
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.remove_index(model, index)
            return
        schema_editor.remove_index(model, index, concurrently=True)

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex(model_name=model_name, index=index)],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )
