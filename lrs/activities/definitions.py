"""Writes of the canonical Activity definitions, inside the statement-storing transaction.

xAPI 1.0.3 Communication 2.5 and 4.2 (the ``define`` scope); the merge rule itself lives in
:mod:`lrs.xapi.activity_definitions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from lrs.activities.models import Activity
from lrs.xapi.activity_definitions import collect_definitions, merge_definitions


@dataclass(frozen=True)
class KnownActivities:
    """Canonical definitions read earlier in the transaction: ``checked`` are the ids looked up,
    ``definitions`` those of them that exist (id -> definition)."""

    checked: frozenset[str]
    definitions: Mapping[str, dict[str, Any] | None]


def activity_definitions_update(
    statements: Sequence[dict[str, Any]],
    *,
    can_define: bool,
    known: KnownActivities | None = None,
    found: Mapping[str, dict[str, Any] | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Record the Activities of newly stored statements and merge their definitions into ``Activity``.

    Call it inside the statement-storing transaction with the statements as stored
    (repeats of already-stored statements excluded), in batch order, and
    ``can_define`` = whether the credential has the ``define`` scope (``all``
    implies it). Every activity id is saved. With ``define`` the definitions are
    merged into the canonical ones (:func:`lrs.xapi.activity_definitions.merge_definitions`);
    without it only an activity that has no canonical definition yet takes one
    (Communication 4.2: without ``define`` the LRS "SHOULD NOT update its
    canonical representation of any Actors or Activities").

    ``known``: canonical definitions already read in this transaction (the statement store's
    first query reads them); the ids it does not cover are read here. Usually every activity is
    known and no definition changes: then this costs no query and takes no lock. Only rows whose
    definition changes, and new ones (another batch may have inserted them first), are locked
    (in id order, so concurrent batches cannot deadlock) and merged again under the lock.
    ``found``: the definitions of ``statements`` when the caller has collected them already
    (``collect_definitions``). Returns the definitions it merged (under the lock), by activity id.
    """
    if found is None:
        found = collect_definitions(list(statements))
    if not found:
        return {}
    current: dict[str, dict[str, Any] | None] = {}
    checked: set[str] = set()
    if known is not None:
        checked = set(found) & known.checked
        current = {id_: known.definitions[id_] for id_ in checked if id_ in known.definitions}
    unread = sorted(set(found) - checked)
    if unread:
        rows = Activity.objects.filter(activity_id__in=unread).values_list("activity_id", "definition")
        current.update(rows)
    now = timezone.now()
    new_rows = [
        Activity(activity_id=activity_id, definition=found[activity_id] or {}, updated=now)
        for activity_id in sorted(found)
        if activity_id not in current
    ]
    if new_rows:
        Activity.objects.bulk_create(new_rows, ignore_conflicts=True)
    to_merge = sorted(
        {
            activity_id
            for activity_id, existing in current.items()
            if definition_changes(existing, found[activity_id], can_define=can_define)
        }
        # A concurrent batch may have inserted one of them first (the insert waited for it and
        # wrote nothing): this batch's definition is then merged into that one under the lock,
        # as into any stored definition, instead of being lost.
        | {row.activity_id for row in new_rows if found[row.activity_id]}
    )
    if not to_merge:
        return {}
    changed: list[Activity] = []
    locked = Activity.objects.select_for_update().filter(activity_id__in=to_merge).order_by("activity_id")
    for row in locked:
        if definition_changes(row.definition, found[row.activity_id], can_define=can_define):
            row.definition = merge_definitions(row.definition or {}, found[row.activity_id] or {})
            row.updated = now
            changed.append(row)
    if changed:
        Activity.objects.bulk_update(changed, ["definition", "updated"])
    return {row.activity_id: row.definition for row in changed}


def definition_changes(
    existing: dict[str, Any] | None, definition: dict[str, Any] | None, *, can_define: bool
) -> bool:
    """Whether ``definition`` would change the canonical ``existing`` one."""
    if not definition or (existing and not can_define) or definition == existing:
        return False  # merging an equal valid definition changes nothing
    return merge_definitions(existing or {}, definition) != existing
