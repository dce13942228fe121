from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("adapters", "0019_existing_webhooks_keep_their_signature"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="request",
            field=models.TextField(blank=True, db_default="", default=""),
        ),
    ]
