# The database side written by hand, as in 0021: on PostgreSQL each new index is built
# CONCURRENTLY under a temporary name, the old one dropped CONCURRENTLY, the new one renamed, so
# drains, the sweep and the gauges go on meanwhile. Elsewhere (SQLite) the schema editor does it.
#
# Target first: reading one target's deliveries since a time (the alert figures, the lag figures)
# through (delivered_at, target) walked every target's entries of that time.

from django.db import migrations, models

DELIVERED_OLD = models.Index(
    fields=["delivered_at", "target"], name="delivery_delivered", condition=models.Q(status="delivered")
)
DELIVERED_NEW = models.Index(
    fields=["target", "delivered_at"], name="delivery_delivered", condition=models.Q(status="delivered")
)
DEAD_OLD = models.Index(fields=["target"], name="delivery_dead", condition=models.Q(status="dead"))
DEAD_NEW = models.Index(
    fields=["target", "updated_at"], name="delivery_dead", condition=models.Q(status="dead")
)


def _replace(apps, schema_editor, old: models.Index, new: models.Index) -> None:
    model = apps.get_model("adapters", "Delivery")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(model, old)
        schema_editor.add_index(model, new)
        return
    temporary = f"{new.name}_building"
    building = models.Index(fields=new.fields, condition=new.condition, name=temporary)
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {temporary}")  # a failed earlier try
    schema_editor.add_index(model, building, concurrently=True)
    schema_editor.remove_index(model, old, concurrently=True)
    schema_editor.execute(f"ALTER INDEX {temporary} RENAME TO {schema_editor.quote_name(new.name)}")


def forwards(apps, schema_editor) -> None:
    _replace(apps, schema_editor, DELIVERED_OLD, DELIVERED_NEW)
    _replace(apps, schema_editor, DEAD_OLD, DEAD_NEW)


def backwards(apps, schema_editor) -> None:
    _replace(apps, schema_editor, DELIVERED_NEW, DELIVERED_OLD)
    _replace(apps, schema_editor, DEAD_NEW, DEAD_OLD)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("adapters", "0021_delivery_due_leaves_out_delivered_rows")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="delivery", name="delivery_delivered"),
                migrations.AddIndex(model_name="delivery", index=DELIVERED_NEW),
                migrations.RemoveIndex(model_name="delivery", name="delivery_dead"),
                migrations.AddIndex(model_name="delivery", index=DEAD_NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
