"""Erasing a person from the statement store (GDPR Art. 17, right to erasure).

A person is a set of Inverse Functional Identifiers (``lrs.xapi.agents.agent_ifi`` form). They
are found through the agent index (``StatementAgent``), which files every agent a statement
names: actor, object, group members, context instructor and team, 2.0 context agents and
groups, the same inside a SubStatement, and the authority.

- ``pseudonymise_statements`` rewrites statements so the person is no longer in them: each
  agent object carrying one of their IFIs becomes an ``account`` whose name is a keyed hash of
  the IFI (stable: the same person gets the same pseudonym in every statement) and loses its
  ``name``; a signature attachment (it signs the original, which names the person) is dropped.
  The statement's columns and index rows are rewritten with it, so a query by the old IFI finds
  nothing and a query by the pseudonym finds the statements. A voiding statement kept by a delete
  (``voiding_statements_holding_targets``) is also cut down to ``VOIDING_CORE``.
- ``delete_statements`` removes statements, their index rows and the attachment bytes no other
  statement references. Statements that merely refer to one by StatementRef stay, pointing at
  nothing, as after voiding. ``voiding_statements_holding_targets`` names the ones not to delete:
  a voiding statement whose target stays (Data 2.3.2, voided if and only if one refers to it).
- ``people_erased`` (in an erasure's transaction) makes every process forget the people it
  remembers (``forget_people_if_erased``, below).
- ``fill_attachment_references`` writes the ``StatementAttachment`` rows (which statement names
  which attachment hash) those deletes read, for statements stored without them: by migration
  0008 (which keeps its own copy of this, as migrations must) and, after a rolling deploy during
  which processes of the earlier release still stored statements, by ``manage.py
  fill_attachment_references``. Idempotent: a row already there is left as it is.

Statements are otherwise immutable (Data 2.3.1); erasure is the one exception the law makes.
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#231-statement-immutability
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Max

from lrs.attachment_store import AttachmentContent
from lrs.statements.indexing import statement_attachment_hashes, statement_index_entries
from lrs.statements.models import (
    ErasureMark,
    Statement,
    StatementActivity,
    StatementAgent,
    StatementAttachment,
)
from lrs.xapi.agents import IFI_PROPERTIES, agent_ifi
from lrs.xapi.iris import forget_iris
from lrs.xapi.json_fast import parse_stored
from lrs.xapi.json_types import compact_json
from lrs.xapi.valid_memo import forget_valid

logger = logging.getLogger(__name__)

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
# Rewritten per transaction: bounded locks and memory whatever the number of statements.
CHUNK = 500
_NOT_AGENTS = frozenset({"extensions", "definition", "result", "attachments"})

Pseudonym = Callable[[str], dict[str, str]]  # IFI -> {"homePage", "name"}
# What a voiding statement needs to void (Data 2.3.2) and to be served as a statement.
VOIDING_CORE = frozenset({"id", "actor", "verb", "object", "timestamp", "stored", "authority", "version"})


@dataclass(frozen=True)
class Found:
    """The statements naming a person: ``own`` (their actor is the person, or an anonymous Group
    of no one else: the fan-out resolves one to its member, ``adapters.identity.resolution``, so
    its effects are the person's) and ``others`` (the person appears in another role: object,
    member of a group with others, instructor, team, authority, a SubStatement)."""

    own: list[int]
    others: list[int]


def statements_naming(ifis: Iterable[str]) -> Found:
    """The statements naming these IFIs (``Found``). A member of an anonymous Group an earlier
    erasure made a pseudonym (on ``LRS_PSEUDONYM_HOMEPAGE``) is no one: a Group of the person
    and such members is theirs (two identifiers of one employee erased by agent one after the
    other: the first found the Group another's, the second must take its effects)."""
    wanted = set(ifis)
    pks = set(
        StatementAgent.objects.filter(agent_ifi__in=sorted(wanted)).values_list("statement_id", flat=True)
    )
    own = set(Statement.objects.filter(id__in=pks, actor_ifi__in=sorted(wanted)).values_list("id", flat=True))
    anonymous = Statement.objects.filter(id__in=pks - own, actor_ifi__isnull=True)  # anonymous Groups
    for pk, payload in anonymous.values_list("id", "payload"):
        members = (parse_stored(payload).get("actor") or {}).get("member") or []
        theirs = [agent_ifi(member) in wanted for member in members]
        if any(theirs) and all(mine or _erased(member) for mine, member in zip(theirs, members, strict=True)):
            own.add(pk)
    return Found(own=sorted(own), others=sorted(pks - own))


def _erased(agent: Any) -> bool:
    """An erased person's pseudonym (``adapters.privacy.subjects.pseudonym``): linked to no one."""
    account = agent.get("account") if isinstance(agent, dict) else None
    return isinstance(account, dict) and account.get("homePage") == settings.LRS_PSEUDONYM_HOMEPAGE


def rewrite(value: Any, ifis: frozenset[str], pseudonym: Pseudonym) -> Any:
    """``value`` (a statement or any part of it) with every agent object carrying one of the IFIs
    replaced by its pseudonymous account, and that agent's name dropped."""
    if isinstance(value, list):
        return [rewrite(item, ifis, pseudonym) for item in value]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    if out.get("objectType", "Agent") in {"Agent", "Group"} and any(name in out for name in IFI_PROPERTIES):
        ifi = agent_ifi(out)
        if ifi in ifis:
            out = {key: item for key, item in out.items() if key not in IFI_PROPERTIES and key != "name"}
            out["account"] = pseudonym(ifi)
    for key, item in out.items():
        if key not in _NOT_AGENTS and isinstance(item, dict | list):
            out[key] = rewrite(item, ifis, pseudonym)
    if isinstance(out.get("attachments"), list):
        out["attachments"] = [item for item in out["attachments"] if item.get("usageType") != SIGNATURE_USAGE]
        if not out["attachments"]:
            del out["attachments"]
    return out


def pseudonymise_statements(
    pks: Iterable[int], ifis: Iterable[str], pseudonym: Pseudonym, *, to_voiding_core: Iterable[int] = ()
) -> int:
    """Rewrite these statements without the person (see the module docstring); returns how many
    changed. Each chunk is one transaction holding its statements' rows locked.
    ``to_voiding_core``: voiding statements kept only because they void a statement that stays
    (``voiding_statements_holding_targets``): they also lose everything but what voids
    (``VOIDING_CORE``), so no free text in them (a result, context extensions) outlives a
    delete."""
    wanted = frozenset(ifis)
    reduced = frozenset(to_voiding_core)
    ordered = sorted(set(pks))
    changed = 0
    dropped: set[str] = set()
    for start in range(0, len(ordered), CHUNK):
        with transaction.atomic():
            rows = list(
                Statement.objects.select_for_update()
                .filter(id__in=ordered[start : start + CHUNK])
                .order_by("id")
            )
            updated, agent_rows, activity_rows, unreferenced = [], [], [], []
            for row in rows:
                before = json.loads(row.payload)
                kept = {k: v for k, v in before.items() if k in VOIDING_CORE} if row.id in reduced else before
                after = rewrite(kept, wanted, pseudonym)
                if after == before:
                    continue
                gone = set(statement_attachment_hashes(before)) - set(statement_attachment_hashes(after))
                dropped |= gone
                unreferenced += [(row.id, sha2) for sha2 in gone]
                row.payload = compact_json(after)
                row.actor_ifi = agent_ifi(after["actor"])
                obj = after["object"]
                row.object_agent_ifi = agent_ifi(obj) if obj.get("objectType") in {"Agent", "Group"} else None
                row.authority_ifi = agent_ifi(after["authority"]) if after.get("authority") else None
                updated.append(row)
                agents, activities = statement_index_entries(after)
                agent_rows += [
                    StatementAgent(statement_id=row.id, agent_ifi=ifi, direct=direct, stored=row.stored)
                    for ifi, direct in agents.items()
                ]
                if row.id in reduced:  # the context went, with its registration and activities
                    row.registration = None
                    activity_rows += [
                        StatementActivity(
                            statement_id=row.id, activity_id=id_, direct=direct, stored=row.stored
                        )
                        for id_, direct in activities.items()
                    ]
            if updated:
                Statement.objects.bulk_update(
                    updated, ["payload", "actor_ifi", "object_agent_ifi", "authority_ifi", "registration"]
                )
                row_ids = [row.id for row in updated]
                StatementAgent.objects.filter(statement_id__in=row_ids).delete()
                StatementAgent.objects.bulk_create(agent_rows)
                StatementActivity.objects.filter(statement_id__in=reduced.intersection(row_ids)).delete()
                StatementActivity.objects.bulk_create(activity_rows)
                for pk, sha2 in unreferenced:  # a dropped signature, now and then
                    StatementAttachment.objects.filter(statement_id=pk, sha2=sha2).delete()
                changed += len(updated)
    _delete_unreferenced_attachments(dropped)
    return changed


# -- What processes remember of people -------------------------------------------------------------
# Validation remembers the values it accepted (``lrs.xapi.valid_memo``: actors with their names and
# addresses, contexts with their instructors; ``lrs.xapi.iris``: IRIs, an OpenID among them), the
# fan-out the pseudonyms and e-mail keys of the learners it delivered for: in each process's memory,
# for as long as the process lives when it is quiet. An erasure must reach them too. It writes an
# ``ErasureMark`` in its own transaction, and another when its retractions have settled (they may
# have named the person again), so no process can miss it, whatever the cache or the broker do or
# if the erasing process dies before its next step. Each process, before answering an xAPI
# request, storing or draining a batch, and at most every ``FORGET_CHECK_SECONDS``, reads the
# newest mark's id and how many there are (a mark may commit after a newer one: the count still
# changes) and forgets everything it remembers of people when they changed (remembering again
# costs one check of each value).
FORGET_CHECK_SECONDS = 2.0
_forgetters: list[Callable[[], None]] = [forget_valid, forget_iris]
_forgetting = threading.Lock()
_marks_seen: tuple[int, int] | None = None  # (newest id, how many)
_next_check = 0.0


def forget_people_too(forget: Callable[[], None]) -> None:
    """Have ``forget`` (e.g. an ``lru_cache``'s ``cache_clear``) called whenever this process
    forgets the people it remembers."""
    _forgetters.append(forget)


def people_erased() -> None:
    """A person is being erased, in the current transaction: once it commits, every process is to
    forget the people it remembers, this one at once."""
    ErasureMark.objects.create()
    transaction.on_commit(_forget_all)


def forget_people_if_erased() -> None:
    """Forget what this process remembers of people if a person was erased since it last looked
    (looking at most every ``FORGET_CHECK_SECONDS``). A failed look (the database briefly away,
    migration 0010 not run yet) is logged and tried again at the next."""
    global _next_check, _marks_seen
    now = time.monotonic()
    if now < _next_check:  # nearly every call: no lock taken
        return
    with _forgetting:  # one thread of the process looks; the others go on
        if now < _next_check:
            return
        _next_check = now + FORGET_CHECK_SECONDS
    try:
        newest, count = ErasureMark.objects.aggregate(newest=Max("id"), count=Count("id")).values()
    except DatabaseError as error:
        logger.warning("could not look for erasures: %s", error)
        return
    if count and (newest, count) != _marks_seen:
        _marks_seen = (newest, count)
        _forget_all()


def _forget_all() -> None:
    for forget in _forgetters:
        forget()


def voiding_statements_holding_targets(pks: Iterable[int]) -> set[int]:
    """Of these statements, the voiding ones whose target the store holds outside ``pks``. An LRS
    considers a statement voided if and only if it holds a voiding statement referring to it
    (Data 2.3.2): deleted, one of these could leave its target voided by nothing (the ``voided``
    column stays), and the target cannot be made live again either (it would be served and sent
    to the targets). So they stay while their target does: every one of them, since whether
    another voiding statement of the target stays is up to other erasures and runs. A voiding
    statement is never voided, so one that names another holds nothing.
    https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Data.md#232-voided"""
    wanted = set(pks)
    voiding = list(
        Statement.objects.filter(id__in=wanted, is_voiding=True).values_list("id", "object_statement_id")
    )
    if not voiding:
        return set()
    held = {
        target
        for target, pk in Statement.objects.filter(
            statement_id__in={target for _, target in voiding}, is_voiding=False
        ).values_list("statement_id", "id")
        if pk not in wanted
    }
    return {pk for pk, target in voiding if target in held}


def keep_voiding_statements(pks: set[int], pseudonym: Pseudonym, *, leave: tuple[str, ...] = ()) -> None:
    """Voiding statements a delete keeps (``voiding_statements_holding_targets``): every person in
    them pseudonymised (but IFIs starting with one of ``leave``), the rest cut down to
    ``VOIDING_CORE``. A second call changes nothing."""
    ifis = set(StatementAgent.objects.filter(statement_id__in=pks).values_list("agent_ifi", flat=True))
    pseudonymise_statements(
        pks, {ifi for ifi in ifis if not ifi.startswith(leave)}, pseudonym, to_voiding_core=pks
    )


def delete_statements(pks: Iterable[int]) -> dict[str, int]:
    """Delete these statements, their index rows and the attachment bytes only they reference;
    returns counts per table."""
    ordered = sorted(set(pks))
    counts = {"statements": 0, "agent_index_rows": 0, "activity_index_rows": 0, "attachments": 0}
    hashes: set[str] = set()
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        with transaction.atomic():
            references = StatementAttachment.objects.filter(statement_id__in=chunk)
            hashes.update(references.values_list("sha2", flat=True))
            references.delete()
            counts["agent_index_rows"] += StatementAgent.objects.filter(statement_id__in=chunk).delete()[0]
            counts["activity_index_rows"] += StatementActivity.objects.filter(
                statement_id__in=chunk
            ).delete()[0]
            # Django's total counts cascaded rows too: the statements alone, by model.
            counts["statements"] += Statement.objects.filter(id__in=chunk).delete()[1].get("lrs.Statement", 0)
    counts["attachments"] = _delete_unreferenced_attachments(hashes)
    return counts


def _delete_unreferenced_attachments(hashes: set[str]) -> int:
    """Attachment bytes are shared by hash: delete those no stored statement names any more.

    The rows are locked first, then their references read. A statement being stored meanwhile with
    the bytes of one of these hashes holds its row (``DatabaseAttachmentStore.put_many``, ``FOR KEY
    SHARE``): this waits for it to commit and then reads its reference; or this locked first, and
    the store writes the bytes again once this commits. Without the lock, bytes a statement had just
    been accepted with could be deleted under it. (A statement naming a hash by ``fileUrl`` only,
    sending no bytes, takes no lock: the LRS owes it no bytes.) In READ COMMITTED each query reads
    what committed before it began.
    https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED"""
    if not hashes:
        return 0
    with transaction.atomic():
        locked = list(
            AttachmentContent.objects.select_for_update()
            .filter(sha2__in=hashes)
            .order_by("sha2")  # one order for every deleter: no deadlock between two
            .values_list("sha2", flat=True)
        )
        named = set(StatementAttachment.objects.filter(sha2__in=locked).values_list("sha2", flat=True))
        gone = [sha2 for sha2 in locked if sha2 not in named]
        return AttachmentContent.objects.filter(sha2__in=gone).delete()[0] if gone else 0


REFERENCES_BATCH = 2000


def fill_attachment_references() -> int:
    """Write the missing reference rows of every stored statement; return how many rows were
    missing. Reads only statements whose text mentions ``"attachments"`` (one pass over the table),
    through ``parse_stored``, which also reads one stored with ``Infinity`` before the
    number-range rule."""
    candidates = Statement.objects.filter(payload__contains='"attachments"').values_list("id", "payload")
    written = 0
    wanted: dict[int, list[str]] = {}
    for pk, payload in candidates.iterator(chunk_size=REFERENCES_BATCH):
        wanted[pk] = statement_attachment_hashes(parse_stored(payload))
        if len(wanted) >= REFERENCES_BATCH:
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
