"""A row per attachment hash a statement names (``StatementAttachment``), filled here for the
statements already stored: erasure and retention look hashes up in it instead of scanning every
statement's text once per hash. Only statements whose text mentions "attachments" are read. After a
rolling deploy (processes of the earlier release storing statements meanwhile), run
``manage.py fill_attachment_references`` once (lrs.statements.erasure)."""

import json

import django.db.models.deletion
from django.db import migrations, models

BATCH = 2000


def _hashes(statement):
    # As lrs.statements.indexing.statement_attachment_hashes at the time of this migration.
    found = {}
    holders = [statement]
    obj = statement.get("object")
    if isinstance(obj, dict) and obj.get("objectType") == "SubStatement":
        holders.append(obj)
    for holder in holders:
        for attachment in holder.get("attachments") or ():
            if isinstance(attachment, dict) and isinstance(attachment.get("sha2"), str):
                found.setdefault(attachment["sha2"].lower(), None)
    return list(found)


def fill_references(apps, schema_editor):
    Statement = apps.get_model("lrs", "Statement")
    StatementAttachment = apps.get_model("lrs", "StatementAttachment")
    candidates = Statement.objects.filter(payload__contains='"attachments"').values_list("id", "payload")
    rows = []
    for pk, payload in candidates.iterator(chunk_size=BATCH):
        # The standard library: it also reads a statement stored with Infinity before number-range.
        rows += [StatementAttachment(statement_id=pk, sha2=sha2) for sha2 in _hashes(json.loads(payload))]
        if len(rows) >= BATCH:
            StatementAttachment.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    StatementAttachment.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('lrs', '0007_index_rows_composite_primary_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='StatementAttachment',
            fields=[
                ('pk', models.CompositePrimaryKey('statement_id', 'sha2', blank=True, editable=False, primary_key=True, serialize=False)),
                ('sha2', models.CharField(max_length=128)),
                ('statement', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attachment_refs', to='lrs.statement')),
            ],
            options={
                'indexes': [models.Index(fields=['sha2'], name='stmtattachment_sha2')],
            },
        ),
        migrations.RunPython(fill_references, migrations.RunPython.noop, elidable=True),
    ]
