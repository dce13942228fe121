# Written by hand, 2026-12-07: the scope "all" no longer implies "identity/write"
# (lrs.credentials.scopes; xAPI 1.0.3 Communication 4.2: "all" is unrestricted access to the xAPI
# resources, https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#oauth-authorization-scope).
# A credential that held "all" before could use the identity API, and an HRIS feed may run on one:
# it is granted "identity/write" by name here, so an upgrade does not start refusing it (403)
# unnoticed. Operators revoke it where it is not needed (README, "Pointing an LMS at the LRS").
# Credentials are few: read them all (a JSON "contains" lookup is not available on SQLite).

from django.db import migrations

ALL = "all"
IDENTITY_WRITE = "identity/write"


def grant_identity_write(apps, schema_editor) -> None:
    Credential = apps.get_model("lrs", "Credential")
    for credential in Credential.objects.order_by("id").only("id", "scopes"):
        scopes = list(credential.scopes or [])
        if ALL in scopes and IDENTITY_WRITE not in scopes:
            credential.scopes = [*scopes, IDENTITY_WRITE]
            credential.save(update_fields=["scopes"])


class Migration(migrations.Migration):
    dependencies = [
        ("lrs", "0012_referring_statements_by_id"),
    ]

    operations = [
        # Backwards: nothing to undo (before, "all" implied the scope; a named one is harmless).
        migrations.RunPython(grant_identity_write, migrations.RunPython.noop),
    ]
