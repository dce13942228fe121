"""Filling ``StatementAttachment`` rows for statements stored without them: by migration 0008
(which keeps its own copy of this, as migrations must) and, after a rolling deploy during which
processes of the earlier release still stored statements, by ``manage.py
fill_attachment_references``. Idempotent: a row already there is left as it is."""

from __future__ import annotations

from lrs.statements.indexing import statement_attachment_hashes
from lrs.statements.models import Statement, StatementAttachment
from lrs.xapi.json_fast import parse_stored

BATCH = 2000


def fill_attachment_references() -> int:
    """Write the missing reference rows of every stored statement; return how many rows were
    missing. Reads only statements whose text mentions ``"attachments"`` (one pass over the table),
    through ``parse_stored``, which also reads one stored with ``Infinity`` before the
    number-range rule."""
    candidates = Statement.objects.filter(payload__contains='"attachments"').values_list("id", "payload")
    written = 0
    wanted: dict[int, list[str]] = {}
    for pk, payload in candidates.iterator(chunk_size=BATCH):
        wanted[pk] = statement_attachment_hashes(parse_stored(payload))
        if len(wanted) >= BATCH:
            written += _insert_missing(wanted)
            wanted = {}
    return written + _insert_missing(wanted)


def _insert_missing(wanted: dict[int, list[str]]) -> int:
    """Insert the (statement, hash) rows of ``wanted`` not there yet; how many that was. Reads the
    rows of these statements only, not the whole table."""
    present = set(
        StatementAttachment.objects.filter(statement_id__in=list(wanted)).values_list("statement_id", "sha2")
    )
    missing = [
        StatementAttachment(statement_id=pk, sha2=sha2)
        for pk, hashes in wanted.items()
        for sha2 in hashes
        if (pk, sha2) not in present
    ]
    StatementAttachment.objects.bulk_create(missing, ignore_conflicts=True)  # a statement stored meanwhile
    return len(missing)
