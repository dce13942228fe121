"""Filling ``StatementAttachment`` rows for statements stored without them: by migration 0008
(which keeps its own copy of this, as migrations must) and, after a rolling deploy during which
processes of the earlier release still stored statements, by ``manage.py
fill_attachment_references``. Idempotent: a row already there is left as it is."""

from __future__ import annotations

import json

from lrs.statements.indexing import statement_attachment_hashes
from lrs.statements.models import Statement, StatementAttachment

BATCH = 2000


def fill_attachment_references() -> int:
    """Write the missing reference rows of every stored statement; return how many rows were
    missing. Reads only statements whose text mentions ``"attachments"`` (one pass over the table),
    each parsed with the standard library, which also reads one stored with ``Infinity`` before
    the number-range rule."""
    candidates = Statement.objects.filter(payload__contains='"attachments"').values_list("id", "payload")
    written = 0
    rows: list[StatementAttachment] = []
    for pk, payload in candidates.iterator(chunk_size=BATCH):
        statement = json.loads(payload)
        rows += [
            StatementAttachment(statement_id=pk, sha2=sha2) for sha2 in statement_attachment_hashes(statement)
        ]
        if len(rows) >= BATCH:
            written += _insert_missing(rows)
            rows = []
    return written + _insert_missing(rows)


def _insert_missing(rows: list[StatementAttachment]) -> int:
    if not rows:
        return 0
    before = StatementAttachment.objects.count()
    StatementAttachment.objects.bulk_create(rows, ignore_conflicts=True)
    return StatementAttachment.objects.count() - before
