"""Webhook targets that existed before Standard Webhooks became the default keep the signature
their receivers were built on (``lrs-v1``); targets created from now on default to ``standard``.
A target declared in LRS_TARGETS_FILE takes what the file says when it is loaded again."""

from django.db import migrations


def keep_lrs_v1(apps, schema_editor):
    Target = apps.get_model("adapters", "Target")
    for target in Target.objects.filter(adapter="webhook"):
        if "signature" not in (target.config or {}):
            target.config = {**target.config, "signature": "lrs-v1"}
            target.save(update_fields=["config"])


class Migration(migrations.Migration):
    dependencies = [("adapters", "0018_skill_evidence_erased")]
    operations = [migrations.RunPython(keep_lrs_v1, migrations.RunPython.noop)]
