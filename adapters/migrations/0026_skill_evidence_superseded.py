from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('adapters', '0025_erasure_keeps_others_statements'),
    ]

    operations = [
        migrations.AddField(
            model_name='skillevidence',
            name='superseded',
            field=models.BooleanField(default=False),
        ),
    ]
