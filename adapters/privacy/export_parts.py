"""Parts of a subject export (adapters/privacy/export.py) written apart from it:

- ``skills.jsonl``: per marketplace target and competency of the person, the record the LRS keeps
  as that target holding it and the evidence it rests on (adapters/models/skills.py). Both are
  filed by employee id, as the marketplace's members are (its pseudonym of them is computed when
  sent);
- ``deliveries.jsonl``: a line per delivery of the person's statements (``delivery_record``);
- ``attachments/<sha2><ext>``: the bytes of the attachments of the person's statements, one at a
  time (the statements carry only their metadata; ``lrs.attachment_store``);

and the ``Sink`` the archive is written to, drained as it goes.
"""

from __future__ import annotations

import mimetypes
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from adapters.models import Delivery, SkillEvidence, SkillRecord, Target
from lrs.attachment_store import attachment_store
from lrs.xapi.json_types import compact_json

EVIDENCE_FIELDS = (
    "activity_id",
    "level",
    "score",
    "completed",
    "timestamp",
    "mapping_version",
    "superseded",
    "erased_at",
)


class Sink:
    """Where ``zipfile`` writes: it keeps the bytes until ``take`` hands them on. It can tell its
    position but not seek, so ``zipfile`` streams (sizes in data descriptors after each entry)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def agent_of(ifi: str) -> dict[str, Any]:
    """The xAPI Agent an IFI in the store's form (``lrs.xapi.agents.agent_ifi``) stands for."""
    kind, _, value = ifi.partition("::")
    if kind == "account":
        home_page, _, name = value.partition("::")
        return {"objectType": "Agent", "account": {"homePage": home_page, "name": name}}
    return {"objectType": "Agent", kind: value}  # mbox, mbox_sha1sum, openid: the value as filed


def extension(content_type: str) -> str:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return ".json"
    return mimetypes.guess_extension(media_type) or ".bin"


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return value.isoformat() if isinstance(value, date) else value


def fields(row: Any, *names: str) -> dict[str, Any]:
    """Named fields of a row as JSON values (times in UTC ISO 8601, dates as YYYY-MM-DD)."""
    return {name: _json_value(getattr(row, name)) for name in names}


def line(value: Any) -> bytes:
    """One line of a ``.jsonl`` part."""
    return compact_json(value).encode() + b"\n"


def _skill_key(row: SkillRecord | SkillEvidence) -> tuple[int, str, str]:
    return (row.target_id, row.member_id, row.competency_code)


def write_skills(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, employee_ids: list[str]) -> dict[str, int]:
    """Write ``skills.jsonl`` (one line per target, member and competency, with the record, or
    None when none was sent, and its evidence); return the counts for the manifest."""
    records = {_skill_key(row): row for row in SkillRecord.objects.filter(member_id__in=employee_ids)}
    evidence: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for row in SkillEvidence.objects.filter(member_id__in=employee_ids).order_by("timestamp", "id"):
        evidence.setdefault(_skill_key(row), []).append(
            {"statement": str(row.statement_uuid)} | fields(row, *EVIDENCE_FIELDS)
        )
    keys = sorted(set(records) | set(evidence))
    names = dict(Target.objects.filter(id__in={key[0] for key in keys}).values_list("id", "name"))
    counts = {"skill_records": 0, "skill_evidence": 0}
    with archive.open(entry, "w") as out:
        for skill in keys:
            target_id, member_id, code = skill
            record, rows = records.get(skill), evidence.get(skill, [])
            entry_line = {
                "target": names.get(target_id),
                "member": member_id,
                "competency": code,
                "record": record.record if record is not None else None,
                "updated_at": iso(record.updated_at) if record is not None else None,
                "evidence": rows,
            }
            out.write(line(entry_line))
            counts["skill_records"] += record is not None and record.record is not None
            counts["skill_evidence"] += len(rows)
    return counts


def write_attachments(
    archive: zipfile.ZipFile, entry: Any, sha2s: Iterable[str], counts: dict[str, int]
) -> Iterator[None]:
    """Write each attachment's bytes (``entry`` makes the ZIP entry of a name), yielding after
    each so the caller drains the archive; ``counts["attachments"]`` is how many."""
    counts["attachments"] = 0
    store = attachment_store()
    for sha2 in sorted(sha2s):
        part = store.get_many([sha2]).get(sha2)
        if part is None:  # deleted meanwhile (erasure, retention)
            continue
        archive.writestr(entry(f"attachments/{sha2}{extension(part.content_type)}"), part.data)
        counts["attachments"] += 1
        yield None


def delivery_record(delivery: Delivery, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """A line of ``deliveries.jsonl``: one delivery of the person's statements and its attempts."""
    return {
        "statement": str(delivery.statement_uuid),
        "target": delivery.target.name,
        "adapter": delivery.target.adapter,
        "kind": delivery.kind,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
        "dispatched_at": iso(delivery.dispatched_at),
        "delivered_at": iso(delivery.delivered_at),
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "target_reference": delivery.external_id,
        # Response excerpts stay out: they are the target's text, not a record about the person,
        # and are pruned after LRS_ATTEMPT_BODY_RETENTION_DAYS anyway.
        "attempt_log": attempts,
    }
