"""Subject access (GDPR Art. 15): everything the LRS holds about one person, as one ZIP file.

The person is a ``Subject`` (every IFI of an agent or of an employee). Their statements are those
the agent index files under one of the IFIs: as actor or object, group member, instructor, team,
context agent or group, the same inside a SubStatement, and authority (``lrs.statements.indexing``).
The archive holds:

- ``statements.jsonl``: the live statements, one per line, in ``stored`` order, exactly as
  ``GET /xapi/statements`` serves them (read through the query layer);
- ``voided_statements.jsonl``: the voided ones, as a ``voidedStatementId`` request serves them;
- ``documents/NNNNN.meta.json`` and ``documents/NNNNN.content.<ext>``: each state and agent-profile
  document of the person (its key, content type, etag, last change) and its content as stored;
- ``deliveries.jsonl``: what the fan-out did with those statements, per target (status, attempts,
  timestamps, errors; never a target's configuration or secrets);
- ``skills.jsonl``: the person's marketplace skill records and their evidence (``export_parts``);
- ``attachments/<sha2><ext>``: the bytes of their statements' attachments (``export_parts``);
- ``identity.json``: the identity links, the employee records (as the HRIS feed described them)
  and the identity history of the person, each change with the deliveries made under the mapping
  it ended (``delivered_under_previous``: what was sent about them);
- ``manifest.json`` (written last): counts, time ranges, when it was generated, whom it is about.

The archive is written as it is read (``zipfile`` on an unseekable sink, drained after every page):
memory holds one page of statements (``PAGE_SIZE``) or one document, whatever the person's volume.
Every part is read in one snapshot (``read_snapshot``): the files are read by separate queries,
and a statement voided between two of them would otherwise be in both statement files, or in neither.
"""

from __future__ import annotations

import contextlib
import logging
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from adapters.models import Attempt, Delivery, Employee, IdentityChange, IdentityLink
from adapters.privacy.export_parts import (
    Sink,
    agent_of,
    delivery_record,
    extension,
    fields,
    iso,
    line,
    write_attachments,
    write_skills,
)
from adapters.privacy.subjects import Subject
from lrs.documents.models import Document
from lrs.statements.indexing import statement_attachment_hashes
from lrs.statements.models import StatementAgent
from lrs.statements.selectors import StatementQuery, statements_by_pk
from lrs.xapi.json_types import compact_json

logger = logging.getLogger(__name__)

FORMAT = "lrs-subject-export/1"
# Statements read, rendered and written per query: what bounds the export's memory.
PAGE_SIZE = 500
# As stored, 2.0 properties kept: the person gets the statement the LRS holds, not a downgrade.
EXPORT_QUERY = StatementQuery(format="exact", version="2.0.0")
HISTORY_PAGE = 500
EMPLOYEE_FIELDS = (
    "employee_id",
    "status",
    "effective_date",
    "terminated_on",
    "manager_id",
    "department",
    "updated_at",
)
CHANGE_FIELDS = (
    *("at", "employee_id", "action", "identifier", "source", "changed_by", "before", "after"),
    "delivered_under_previous",  # [target, statement id]: what was sent about them before a move
)

Progress = Callable[[int], None]


def _statement_rows(subject: Subject) -> QuerySet:
    return StatementAgent.objects.filter(agent_ifi__in=sorted(subject.statement_ifis))


def statement_count(subject: Subject) -> int:
    """How many statements name the person (the progress bar's total, ``SubjectExport(total=)``)."""
    return _statement_rows(subject).values("statement_id").distinct().count()


def _employee_ids(subject: Subject) -> list[str]:
    return sorted({link.employee_id for link in subject.links} | ({subject.employee_id} - {""}))


def subject_is_known(subject: Subject) -> bool:
    """Whether the LRS holds anything about the person: a statement, a document, an identity link,
    an employee record (the HRIS feed's, before any linking), a history row a move from them left."""
    return bool(
        subject.links
        or _statement_rows(subject).exists()
        or Document.objects.filter(agent_ifi__in=sorted(subject.ifis)).exists()
        or Employee.objects.filter(employee_id__in=_employee_ids(subject)).exists()
        or IdentityChange.objects.filter(before__employee_id__in=_employee_ids(subject)).exists()
    )


def statement_key_pages(
    subject: Subject, *, voided: bool | None = None, page_size: int = PAGE_SIZE
) -> Iterator[list[tuple[datetime, int]]]:
    """(stored, primary key) of the person's statements in stored order, a page at a time: a
    keyset walk over the agent index (it carries ``stored``), so no page depends on the ones
    before it and none is kept. A statement naming the person under several IFIs comes once."""
    after: tuple[datetime, int] | None = None
    while True:
        rows = _statement_rows(subject)
        if voided is not None:
            rows = rows.filter(statement__voided=voided)
        if after is not None:
            stored, pk = after
            # The range on stored alone lets the (agent_ifi, stored, statement) index start here.
            rows = rows.filter(Q(stored__gte=stored) & (Q(stored__gt=stored) | Q(statement_id__gt=pk)))
        page = list(
            rows.order_by("stored", "statement_id")
            .values_list("stored", "statement_id")
            .distinct()[:page_size]
        )
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        after = page[-1]


@contextlib.contextmanager
def read_snapshot() -> Iterator[None]:
    """One transaction whose reads all see the database as it was at the first of them.
    PostgreSQL: REPEATABLE READ, read only (it takes no lock a writer waits for; the rows it reads
    are kept from VACUUM until it ends). SQLite (development): its transactions are serializable,
    but the settings begin them IMMEDIATE, holding the write lock for the export's length; this one
    is DEFERRED, a reader (WAL mode, config/settings.py: no writer waits for it; the WAL file grows
    until it ends). Inside a caller's transaction the caller's isolation holds: the level can only
    be set before a transaction's first query."""
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()  # connecting sets transaction_mode from the settings
        mode, connection.transaction_mode = connection.transaction_mode, "DEFERRED"
        try:
            with transaction.atomic():
                connection.transaction_mode = mode
                yield
        finally:
            connection.transaction_mode = mode
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _range(values: list[datetime]) -> dict[str, str | None] | None:
    return {"first": iso(min(values)), "last": iso(max(values))} if values else None


class SubjectExport:
    """One export: iterate ``chunks()`` for the ZIP's bytes; ``manifest`` is set once it ends."""

    def __init__(
        self,
        subject: Subject,
        *,
        requested_by: str = "",
        progress: Progress | None = None,
        total: Progress | None = None,
        page_size: int = PAGE_SIZE,
    ):
        self.subject = subject
        self.requested_by = requested_by
        self.progress = progress
        self.total = total  # told how many statements ``progress`` will count, in the snapshot
        self.page_size = page_size
        self.manifest: dict[str, Any] | None = None
        self._counts: dict[str, int] = {}
        # The earliest and latest seen so far (not every value: memory stays bounded).
        self._stored: list[datetime] = []
        self._updated: list[datetime] = []
        self._attachments: set[str] = set()  # their sha2s (64 characters each)
        self._generated_at = timezone.now()

    def _entry(self, name: str) -> zipfile.ZipInfo:
        """An entry dated when the export began (``ZipFile.open`` would date it 1980), compressed,
        readable by its owner only once extracted: it is personal data."""
        info = zipfile.ZipInfo(name, date_time=self._generated_at.astimezone(UTC).timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def chunks(self) -> Iterator[bytes]:
        # Who exported whom, without the identifiers: the keyed hash recognises the person.
        who = self.subject.fingerprint[:16]
        logger.info("subject export of %s by %s started", who, self.requested_by or "-")
        sink = Sink()
        with (
            read_snapshot(),
            zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive,  # type: ignore[arg-type]
        ):
            # In the snapshot: counted before it, a statement stored in between was exported, not counted.
            if self.total is not None:
                self.total(statement_count(self.subject))
            for name, voided in (("statements.jsonl", False), ("voided_statements.jsonl", True)):
                yield from self._statements(archive, sink, name, voided=voided)
            for _ in write_attachments(archive, self._entry, self._attachments, self._counts):
                yield sink.take()
            yield from self._documents(archive, sink)
            yield from self._deliveries(archive, sink)
            self._counts |= write_skills(archive, self._entry("skills.jsonl"), _employee_ids(self.subject))
            self._identity(archive)
            yield sink.take()
            self.manifest = manifest = self._manifest()
            archive.writestr(self._entry("manifest.json"), compact_json(manifest).encode())
        yield sink.take()
        logger.info("subject export of %s done: %s", who, manifest["counts"])

    def _statements(
        self, archive: zipfile.ZipFile, sink: Sink, name: str, *, voided: bool
    ) -> Iterator[bytes]:
        count = 0
        # zip64 up front: the entry's size is not known before it is written, and may pass 4 GiB.
        with archive.open(self._entry(name), "w", force_zip64=True) as entry:
            for page in statement_key_pages(self.subject, voided=voided, page_size=self.page_size):
                for statement in statements_by_pk([pk for _stored, pk in page], query=EXPORT_QUERY):
                    entry.write(line(statement))
                    self._attachments.update(statement_attachment_hashes(statement))
                    count += 1
                self._stored = [min([*self._stored, page[0][0]]), max([*self._stored, page[-1][0]])]
                if self.progress is not None:
                    self.progress(len(page))
                yield sink.take()
        self._counts["voided_statements" if voided else "statements"] = count

    def _documents(self, archive: zipfile.ZipFile, sink: Sink) -> Iterator[bytes]:
        documents = Document.objects.filter(agent_ifi__in=sorted(self.subject.ifis)).exclude(agent_ifi="")
        count = 0
        last_id = 0
        while True:
            ids = list(
                documents.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[: self.page_size]
            )
            for document_id in ids:
                # One at a time: a document may be as large as LRS_MAX_DOCUMENT_BYTES.
                document = Document.objects.filter(id=document_id).first()
                if document is None:  # deleted meanwhile
                    continue
                count += 1
                stem = f"documents/{count:05d}"
                content_name = f"{stem}.content{extension(document.content_type)}"
                archive.writestr(
                    self._entry(f"{stem}.meta.json"),
                    compact_json(self._document_meta(document, content_name)),
                )
                archive.writestr(self._entry(content_name), bytes(document.content))
                self._updated = [
                    min([*self._updated, document.updated]),
                    max([*self._updated, document.updated]),
                ]
                yield sink.take()
            if len(ids) < self.page_size:
                break
            last_id = ids[-1]
        self._counts["documents"] = count

    @staticmethod
    def _document_meta(document: Document, content_name: str) -> dict[str, Any]:
        id_name = "stateId" if document.kind == Document.Kind.STATE else "profileId"
        meta: dict[str, Any] = {
            "kind": document.kind,
            "agent": agent_of(document.agent_ifi),
            id_name: document.document_id,
            "contentType": document.content_type,
            "etag": document.etag,
            "updated": iso(document.updated),
            "content": content_name.removeprefix("documents/"),
        }
        if document.activity_id:
            meta["activityId"] = document.activity_id
        if document.registration is not None:
            meta["registration"] = str(document.registration)
        return meta

    def _deliveries(self, archive: zipfile.ZipFile, sink: Sink) -> Iterator[bytes]:
        deliveries = attempts = 0
        with archive.open(self._entry("deliveries.jsonl"), "w", force_zip64=True) as entry:
            for page in statement_key_pages(self.subject, page_size=self.page_size):
                rows = list(
                    Delivery.objects.filter(statement_id__in=[pk for _stored, pk in page])
                    .select_related("target")
                    .order_by("statement_id", "id")
                )
                log: dict[int, list[dict[str, Any]]] = {}
                for attempt in Attempt.objects.filter(delivery_id__in=[row.id for row in rows]).order_by(
                    "delivery_id", "number"
                ):
                    log.setdefault(attempt.delivery_id, []).append(
                        fields(
                            attempt, "number", "started_at", "duration_ms", "status_code", "outcome", "error"
                        )
                    )
                for row in rows:
                    entry.write(line(delivery_record(row, log.get(row.id, []))))
                    attempts += len(log.get(row.id, []))
                deliveries += len(rows)
                yield sink.take()
        self._counts["deliveries"] = deliveries
        self._counts["attempts"] = attempts

    def _identity(self, archive: zipfile.ZipFile) -> None:
        employee_ids = _employee_ids(self.subject)
        links = [
            fields(link, "employee_id", "kind", "value", "source", "created_at")
            for link in IdentityLink.objects.filter(
                Q(id__in=[link.id for link in self.subject.links]) | Q(employee_id__in=employee_ids)
            ).order_by("employee_id", "id")
        ]
        employees = [
            fields(employee, *EMPLOYEE_FIELDS)
            for employee in Employee.objects.filter(employee_id__in=employee_ids).order_by("employee_id")
        ]
        # A move is filed under the employee it went to; the one it was taken from is in ``before``.
        # Named by an agent: also the rows of its identifier (unlinked since, it links to no one),
        # those its erasure deletes as the person's (identity.erased.identity_erase).
        by_key = Q(identifier__in=sorted(self.subject.lookup_keys)) if not self.subject.employee_id else Q()
        history = IdentityChange.objects.filter(
            Q(employee_id__in=employee_ids) | Q(before__employee_id__in=employee_ids) | by_key
        )
        changes = 0
        with archive.open(self._entry("identity.json"), "w") as entry:
            entry.write(b'{"links":' + compact_json(links).encode())
            entry.write(b',"employees":' + compact_json(employees).encode() + b',"history":[')
            last_id = 0
            while page := list(history.filter(id__gt=last_id).order_by("id")[:HISTORY_PAGE]):
                for change in page:
                    record = fields(change, *CHANGE_FIELDS)
                    entry.write((b"," if changes else b"") + compact_json(record).encode())
                    changes += 1
                last_id = page[-1].id
            entry.write(b"]}")
        self._counts |= {
            "identity_links": len(links),
            "employees": len(employees),
            "identity_changes": changes,
        }

    def _manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "generated_at": iso(self._generated_at),
            "subject": {
                "agents": [agent_of(ifi) for ifi in sorted(self.subject.ifis)],
                "employee_id": self.subject.employee_id or None,
            },
            "counts": dict(self._counts),
            "time_range": {
                "statements_stored": _range(self._stored),
                "documents_updated": _range(self._updated),
            },
            "files": {
                "statements.jsonl": "live statements, one per line, in stored order, as stored",
                "voided_statements.jsonl": "voided statements, one per line, as stored",
                "attachments/": "the bytes of the statements' attachments, named by their sha2",
                "documents/": "per document: NNNNN.meta.json (its key) and NNNNN.content.* (as stored)",
                "deliveries.jsonl": "what the fan-out did with those statements, per target",
                "skills.jsonl": "marketplace skill records and their evidence, per target and competency",
                "identity.json": "identity links, employee records, identity history with delivery reports",
            },
        }
