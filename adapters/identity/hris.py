"""The HRIS delta feed: each row is an employee as the HRIS describes them now (identifiers,
status, effective date, manager, department), applied idempotently with a result per row:
created, updated, unchanged, or rejected with the reason (and its line).

A row's e-mail addresses and accounts are the employee's complete HRIS identifiers: one the HRIS
gave before and leaves out now is unlinked (links made in the admin, by CSV or the identity API
are never touched by the feed). A row that would link an identifier another employee holds is
rejected whole, never half-applied: move it first (the identity API, the admin, or the losing
employee's own row earlier in the same file). Status ``terminated`` holds the employee's
statements from the effective date on (``adapters.identity.resolution``); ``active`` again (a
re-hire) releases nothing held: an admin decides.

Bulk by design: a file is read into a plan against what two queries loaded (employees, links),
then written in a few statements, so 10,000 rows take seconds, and a second run of the same file
writes nothing. ``dry_run`` plans without writing.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from adapters.identity import history
from adapters.identity.digests import digests_derive, keys_of, keys_recorded
from adapters.identity.holds import deliveries_release
from adapters.identity.links import (
    Identifiers,
    IdentityInputError,
    checked_employee_id,
    hold_identity_lock,
    links_for,
)
from adapters.models import Employee, IdentityChange, IdentityLink
from lrs.xapi.errors import XAPIValidationError
from lrs.xapi.json_types import parse_json as strict_json
from lrs.xapi.json_types import unstorable

CSV_COLUMNS = ("employee_id", "emails", "accounts", "status", "effective_date", "manager_id", "department")
STATUSES = (Employee.ACTIVE, Employee.TERMINATED)
SOURCE = "hris"


@dataclass
class HrisRow:
    line: int
    employee_id: str
    identifiers: Identifiers
    status: str
    effective_date: date | None
    manager_id: str = ""
    department: str = ""


@dataclass
class RowResult:
    line: int
    employee_id: str
    result: str  # created, updated, unchanged, rejected
    reason: str = ""
    changes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        shown: dict[str, object] = {"line": self.line, "employee_id": self.employee_id, "result": self.result}
        if self.reason:
            shown["reason"] = self.reason
        if self.changes:
            shown["changes"] = self.changes
        return shown


# -- reading --------------------------------------------------------------------------


def rows_from_text(text: str, *, jsonl: bool) -> Iterator[HrisRow | RowResult]:
    """Rows of a CSV (columns ``CSV_COLUMNS``; several e-mails or accounts separated by ``;``,
    an account as ``homePage|name``) or JSON-lines file (``{"employee_id", "emails": [...],
    "accounts": [{"homePage", "name"}], "status", "effective_date", "manager_id", "department"}``).
    A row that cannot be read is a rejected ``RowResult``."""
    if jsonl:
        for line, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                yield _from_json(line, raw)
        return
    reader = csv.DictReader(io.StringIO(text))
    unknown = [column for column in reader.fieldnames or [] if column not in CSV_COLUMNS]
    if "employee_id" not in (reader.fieldnames or []) or unknown:
        raise IdentityInputError(
            f"line 1: columns must be among {', '.join(CSV_COLUMNS)} and include employee_id "
            f"(unknown: {', '.join(unknown) or '-'})"
        )
    for line, row in enumerate(reader, start=2):
        try:
            if row.get(None):  # cells past the header's columns: dropped silently otherwise
                raise IdentityInputError(
                    f"more cells than the header's {len(reader.fieldnames or [])} columns"
                )
            accounts = []
            for cell in _split(row.get("accounts")):
                home_page, bar, name = cell.partition("|")
                if not bar:
                    raise IdentityInputError(f"accounts: {cell!r} is not homePage|name")
                accounts.append({"homePage": home_page.strip(), "name": name.strip()})
            yield _row(line, row, emails=_split(row.get("emails")), accounts=accounts)
        except IdentityInputError as problem:
            yield RowResult(line, _shown_id(row.get("employee_id")), "rejected", str(problem))


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def rows_from_objects(objects: Iterable[object]) -> Iterator[HrisRow | RowResult]:
    """Rows given as parsed JSON objects (the HRIS API); ``line`` is the position from 1."""
    for line, row in enumerate(objects, start=1):
        yield _from_object(line, row)


def _from_json(line: int, raw: str) -> HrisRow | RowResult:
    # Read as the HRIS API and the xAPI resources read JSON: nesting, repeated keys, surrogates.
    try:
        row = strict_json(raw, path=f"line {line}")
    except XAPIValidationError as exc:
        return RowResult(line, "", "rejected", f"{exc.message} (rule {exc.rule})")
    return _from_object(line, row)


def _from_object(line: int, row: object) -> HrisRow | RowResult:
    if not isinstance(row, dict):
        return RowResult(line, "", "rejected", "a row must be a JSON object")
    try:
        # A key the feed does not know (a typo of a column) is refused, as a CSV column is.
        unknown = sorted(set(row) - set(CSV_COLUMNS))
        if unknown:
            raise IdentityInputError(f"{unknown[0]}: not a column of the feed ({', '.join(CSV_COLUMNS)})")
        emails, accounts = row.get("emails") or [], row.get("accounts") or []
        if not isinstance(emails, list) or not all(isinstance(email, str) for email in emails):
            raise IdentityInputError("emails: must be a list of strings")
        if not isinstance(accounts, list) or not all(isinstance(account, dict) for account in accounts):
            raise IdentityInputError("accounts: must be a list of {homePage, name} objects")
        return _row(line, row, emails=emails, accounts=accounts)
    except IdentityInputError as problem:
        return RowResult(line, _shown_id(row.get("employee_id")), "rejected", str(problem))


def _shown_id(value: object) -> str:
    """A rejected row's employee id as its result shows it: blank unless it is text that can be
    written out (a lone surrogate cannot be encoded into the answer)."""
    return value.strip() if isinstance(value, str) and not unstorable(value) else ""


def _row(line: int, row: dict, *, emails: list[str], accounts: list[dict]) -> HrisRow:
    employee_id = checked_employee_id(_text(row, "employee_id"))
    status = (_text(row, "status") or Employee.ACTIVE).lower()
    if status not in STATUSES:
        raise IdentityInputError(f"status: {status!r} is not active or terminated")
    effective = _text(row, "effective_date")
    try:
        effective_date = date.fromisoformat(effective) if effective else None
    except ValueError:
        raise IdentityInputError(f"effective_date: {effective!r} is not a date (YYYY-MM-DD)") from None
    return HrisRow(
        line=line,
        employee_id=employee_id,
        identifiers=Identifiers(emails=list(emails), accounts=list(accounts)),
        status=status,
        effective_date=effective_date,
        manager_id=_held(row, "manager_id"),
        department=_held(row, "department"),
    )


def _held(row: dict, column: str) -> str:
    """The column as the employee record holds it: a longer value rejects the row naming it,
    not a database error failing the whole file (a 500 from the HRIS API)."""
    value = _text(row, column)
    limit = Employee._meta.get_field(column).max_length
    if len(value) > limit:
        raise IdentityInputError(f"{column}: longer than {limit} characters")
    return value


def _text(row: dict, column: str) -> str:
    """The column's text, stripped: a number is its digits (JSON ids), an object, list or boolean
    is refused (its Python repr was stored), as is text the database cannot hold."""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise IdentityInputError(f"{column}: must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if problem := unstorable(text):
        raise IdentityInputError(f"{column}: {problem}")
    return text


# -- applying -------------------------------------------------------------------------


@dataclass
class _Plan:
    """What the file changes, against what the database held plus the rows before."""

    employees: dict[str, Employee]
    links: dict[str, dict[str, IdentityLink]]  # employee id -> lookup key -> link
    owners: dict[str, set[str]]  # lookup key -> employee ids
    new_employees: dict[str, Employee] = field(default_factory=dict)
    changed_employees: dict[str, Employee] = field(default_factory=dict)
    added: list[IdentityLink] = field(default_factory=list)
    removed: list[IdentityLink] = field(default_factory=list)
    changes: list[IdentityChange] = field(default_factory=list)


def hris_import(
    rows: Iterable[HrisRow | RowResult],
    *,
    dry_run: bool = False,
    changed_by: str = "",
    progress: Callable[[int], None] | None = None,
) -> list[RowResult]:
    """Apply the rows in order; returns one result per row (``dry_run``: what would be)."""
    given = list(rows)
    readable = [row for row in given if isinstance(row, HrisRow)]
    with transaction.atomic():
        hold_identity_lock()  # the ambiguity check below must see every committed link
        plan = _load(readable)
        results = []
        for row in given:
            results.append(row if isinstance(row, RowResult) else _plan_row(plan, row, changed_by))
            if progress is not None:
                progress(1)
        if not dry_run:
            _write(plan)
    return results


def _load(rows: list[HrisRow]) -> _Plan:
    employee_ids = {row.employee_id for row in rows}
    keys = set()
    for row in rows:
        with contextlib.suppress(IdentityInputError):  # such a row is rejected when planned
            keys |= keys_of(links_for(row.employee_id, row.identifiers, SOURCE))  # SHA-1 forms too
    employees = {
        employee.employee_id: employee for employee in Employee.objects.filter(employee_id__in=employee_ids)
    }
    plan = _Plan(employees=employees, links={}, owners={})
    for link in IdentityLink.objects.filter(employee_id__in=employee_ids) | IdentityLink.objects.filter(
        lookup_key__in=keys
    ):
        plan.links.setdefault(link.employee_id, {})[link.lookup_key] = link
        plan.owners.setdefault(link.lookup_key, set()).add(link.employee_id)
    return plan


def _plan_row(plan: _Plan, row: HrisRow, changed_by: str) -> RowResult:
    try:
        wanted = {link.lookup_key: link for link in links_for(row.employee_id, row.identifiers, SOURCE)}
    except IdentityInputError as problem:
        return RowResult(row.line, row.employee_id, "rejected", str(problem))
    held = plan.links.get(row.employee_id, {})
    for key, link in wanted.items():
        # An address's SHA-1 linked elsewhere is the same mailbox (adapters.identity.digests).
        others = set().union(*(plan.owners.get(each, set()) for each in keys_of([link]))) - {row.employee_id}
        if key not in held and others:
            whose = "" if plan.owners.get(key, set()) - {row.employee_id} else " (its SHA-1)"
            reason = (
                f"{link.kind} {link.value}{whose} is linked to employee {', '.join(sorted(others))}: "
                "linking it here too would make it ambiguous; move it first"
            )
            return RowResult(row.line, row.employee_id, "rejected", reason)
    adding = [link for key, link in wanted.items() if key not in held]
    removing = [link for key, link in held.items() if link.source == SOURCE and key not in wanted]
    record_changes, created = _plan_employee(plan, row, changed_by)
    changes = list(record_changes)
    for link in adding:
        plan.added.append(link)
        held[link.lookup_key] = link
        plan.owners.setdefault(link.lookup_key, set()).add(row.employee_id)
        changes.append(f"linked {link.kind} {link.value}")
        plan.changes.append(
            _change(row, IdentityChange.LINK_ADDED, link, changed_by, after=history.link_state(link))
        )
    for link in removing:
        if link.id is None:  # linked by an earlier row of this file: simply not added after all
            plan.added.remove(link)
        else:
            plan.removed.append(link)
        del held[link.lookup_key]
        plan.owners[link.lookup_key].discard(row.employee_id)
        changes.append(f"unlinked {link.kind} {link.value}")
        plan.changes.append(
            _change(row, IdentityChange.LINK_REMOVED, link, changed_by, before=history.link_state(link))
        )
    plan.links[row.employee_id] = held
    result = "created" if created else "updated" if changes else "unchanged"
    return RowResult(row.line, row.employee_id, result, changes=changes)


def _plan_employee(plan: _Plan, row: HrisRow, changed_by: str) -> tuple[list[str], bool]:
    known = plan.employees.get(row.employee_id)
    terminated_on = None
    if row.status == Employee.TERMINATED:
        # Without a date: the day the feed first said so, kept on every later run of the row (a
        # re-sent leaver row must not move the date on, which would release what it holds).
        earlier = known.terminated_on if known is not None else None
        terminated_on = row.effective_date or earlier or timezone.now().date()
    fields = {
        "status": row.status,
        "effective_date": row.effective_date,
        "terminated_on": terminated_on,
        "manager_id": row.manager_id,
        "department": row.department,
    }
    employee = plan.employees.get(row.employee_id)
    if employee is None:
        employee = plan.employees[row.employee_id] = Employee(employee_id=row.employee_id, **fields)
        plan.new_employees[row.employee_id] = employee
        plan.changes.append(_record_change(row, IdentityChange.EMPLOYEE_CREATED, changed_by, None, fields))
        return [], True
    before = {name: getattr(employee, name) for name in fields}
    differing = [name for name, value in fields.items() if before[name] != value]
    if not differing:  # as the HRIS gave it before (a row earlier in the file included)
        return [], False
    for name in differing:
        setattr(employee, name, fields[name])
    employee.updated_at = timezone.now()
    if row.employee_id not in plan.new_employees:
        plan.changed_employees[row.employee_id] = employee
    plan.changes.append(_record_change(row, IdentityChange.EMPLOYEE_UPDATED, changed_by, before, fields))
    return [f"{name}: {before[name] or '-'} -> {fields[name] or '-'}" for name in differing], False


def _jsonable(values: dict[str, object] | None) -> dict[str, object] | None:
    if values is None:
        return None
    return {name: value.isoformat() if isinstance(value, date) else value for name, value in values.items()}


def _record_change(
    row: HrisRow, action: str, changed_by: str, before: dict | None, after: dict
) -> IdentityChange:
    return IdentityChange(
        employee_id=row.employee_id,
        action=action,
        source=SOURCE,
        changed_by=changed_by,
        before=_jsonable(before),
        after=_jsonable(after),
    )


def _change(
    row: HrisRow, action: str, link: IdentityLink, changed_by: str, *, before: dict | None = None, after=None
) -> IdentityChange:
    return IdentityChange(
        employee_id=row.employee_id,
        action=action,
        source=SOURCE,
        changed_by=changed_by,
        identifier=link.lookup_key,
        before=before,
        after=after,
    )


def _write(plan: _Plan) -> None:
    removed_keys = keys_recorded(plan.removed)  # read before the delete takes their SHA-1 forms
    if plan.removed:
        by_key = {link.lookup_key: link for link in plan.removed}
        for change in plan.changes:
            if change.action == IdentityChange.LINK_REMOVED and change.identifier in by_key:
                change.delivered_under_previous = history.delivered_under(by_key[change.identifier])
        IdentityLink.objects.filter(id__in=[link.id for link in plan.removed if link.id]).delete()
    Employee.objects.bulk_create(plan.new_employees.values(), batch_size=2000)
    Employee.objects.bulk_update(
        plan.changed_employees.values(),
        ["status", "effective_date", "terminated_on", "manager_id", "department", "updated_at"],
        batch_size=1000,
    )
    IdentityLink.objects.bulk_create(plan.added, batch_size=2000, ignore_conflicts=True)
    digests_derive({link.employee_id for link in plan.added})
    IdentityChange.objects.bulk_create(plan.changes, batch_size=2000)
    keys = keys_of(plan.added) | removed_keys
    if keys:
        addressed = {link.employee_id for link in plan.added if link.kind == "email"}
        deliveries_release(keys=keys, addressed=addressed)
