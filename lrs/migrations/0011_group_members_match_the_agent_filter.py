# Written by hand, 2026-12-07: the members of a Group actor or object are filed as direct
# (lrs.statements.indexing), so that the plain ``agent`` filter matches the Group's statements
# (xAPI Communication 2.1.3, ``agent``: "Groups that have members which match the specified Agent
# ... are considered a match"). Statements stored before were filed with their members as related
# only: their rows are marked direct here. Only statements whose JSON names a "member" are read,
# a chunk at a time; nothing else changes.

import json

from django.db import migrations

from lrs.xapi.agents import agent_ifi

CHUNK = 2000


def _member_ifis(statement: dict) -> set[str]:
    """The IFIs of the members of the statement's actor and object when they are Groups."""
    found = set()
    for holder in (statement.get("actor"), statement.get("object")):
        if isinstance(holder, dict) and holder.get("objectType") == "Group":
            for member in holder.get("member") or ():
                ifi = agent_ifi(member) if isinstance(member, dict) else None
                if ifi:
                    found.add(ifi)
    return found


def forwards(apps, schema_editor) -> None:
    statements = apps.get_model("lrs", "Statement").objects
    agents = apps.get_model("lrs", "StatementAgent").objects
    after = 0
    while True:
        rows = list(
            statements.filter(id__gt=after, payload__contains='"member"')
            .order_by("id")
            .values_list("id", "payload")[:CHUNK]
        )
        if not rows:
            return
        for pk, payload in rows:
            ifis = _member_ifis(json.loads(payload))
            if ifis:
                agents.filter(statement_id=pk, agent_ifi__in=sorted(ifis), direct=False).update(direct=True)
        after = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("lrs", "0010_erasure_mark"),
    ]

    operations = [
        # Backwards: nothing to undo that matters (the rows stay direct; the old code reads them).
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
