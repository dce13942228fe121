"""What an erasure does at each target: whether the person's effects can be retracted there, the
``actor.erased`` notice a target told of erasures (``on_erasure: notify``) is owed, and the
retractions run again for evidence a delivery recorded late (``evidence_recorded_late``), the
marketplace mirror's rows of revoked records forgotten once they settled (``forget_revoked_records``),
and the erased members' records no evidence rests on any more (a deleting retention removed it)
revoked at the finish (``revocation_members``, ``revoke_unevidenced``).

A notice names the person as that target was told of them, or it names no one the target holds:
the employee id (when the erasure names one, or the identity links of the agent it names give
one), and the target's own keyed pseudonyms of each of the person's identifiers (what a webhook
sent for statements of theirs made before they were linked, or under ``pseudonymise``; and of
the pseudonyms a pseudonymising retention gave those identifiers, which a backfill sends). Only
pseudonyms are kept on the request until the notice is taken, never the identifiers.
"""

from __future__ import annotations

import functools
import itertools
import logging
import operator
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from adapters.base import RETRACT, AdapterError, DeliveryBusy, DeliveryContext
from adapters.delivery import queue
from adapters.models import (
    Delivery,
    ErasureRequest,
    IdentityLink,
    SkillEvidence,
    SkillRecord,
    Target,
    deliveries_locked,
    skill_records_locked,
    unevidenced_held,
    without_evidence,
)
from adapters.outbound import failure_text
from adapters.privacy import notices
from adapters.privacy.subjects import Subject
from adapters.redaction import redacted_text
from adapters.registry import adapter_class, adapter_for
from adapters.secrets import SecretUnavailable, secret_keys
from lrs.statements.models import Statement

logger = logging.getLogger(__name__)


def retraction_blocker(target: Target) -> str | None:
    """Why the target's effects cannot be retracted once the person is erased; None when they
    can. The request records it for that target, so an admin erases there by hand."""
    if not adapter_class(target.adapter).supports_retraction:
        # Slack and Teams: this LRS never removes what it posted (nor on a void).
        return "cannot retract (this LRS does not remove what it sent there): erase there too"
    if target.adapter == "pms" and target.config.get("retraction", "delete") == "event":
        # A retraction event names the employee, whose identity is gone by the time it is sent.
        return "cannot retract (it records retraction events naming the employee): erase there too"
    return None


def notice_blocker(target: Target) -> str | None:
    """Why the target cannot be told of the erasure; None when it takes a notice."""
    if not adapter_class(target.adapter).takes_erasure_notices:
        return "takes no erasure notice: erase there too"
    return None


def notice_for(target: Target, subject: Subject, statement_pks: Iterable[int] = ()) -> dict[str, Any]:
    """The names the target's notice carries (see the module docstring), under every name the
    target has had: without a ``pseudonym_key`` the target's name keys its pseudonyms
    (``Adapter.pseudonym``), and an admin may have renamed it since it was sent the person's
    statements. The names it was renamed from (``Target.former_names``: a delivery is sent under
    the name the target has then, which its key, made when it was queued, may not show, and
    retention may have deleted it), and those the keys of its deliveries of ``statement_pks``
    (the person's statements, and others' naming them) show (``names_sent_under``: renames made
    before the target kept its former names). Each under every ``SECRET_KEY`` too: the current
    one and the rotated ones in ``SECRET_KEY_FALLBACKS`` (Django's rotation), which keyed the
    pseudonyms of deliveries made before the rotation."""
    employee_ids = sorted({link.employee_id for link in subject.links})
    employee_id = subject.employee_id or (employee_ids[0] if len(employee_ids) == 1 else "")
    former = (names_sent_under(target, statement_pks) | set(target.former_names or ())) - {target.name}
    try:
        adapter = adapter_for(target.adapter, target.config)
        pseudonyms: set[str] = set()
        # And under every SECRET_KEY the pseudonyms were keyed from: a delivery made before a
        # rotation (the old key in ``SECRET_KEY_FALLBACKS``) named the person under the old one.
        for name, secret in itertools.product((target.name, *sorted(former)), secret_keys()):
            context = DeliveryContext(target_name=name, kind="erasure", idempotency_key="")
            pseudonyms.update(
                adapter.pseudonym(ifi, context, remember=False, secret=secret)
                for ifi in subject.statement_ifis
            )
            if employee_id and adapter.pseudonymised:
                # ``pseudonymise``: statement.stored named the employee by this pseudonym then. The
                # current name's too: the notice's ``pseudonym`` is keyed by the name the target
                # has when the notice is sent, which an admin may change while it waits
                # (``WebhookAdapter.erasure_requests`` does not list it twice).
                pseudonyms.add(adapter.pseudonym(employee_id, context, remember=False, secret=secret))
    except SecretUnavailable as exc:
        # Its pseudonym key is missing now: the employee id alone, and the admin is told.
        logger.warning("erasure notice to %s names no pseudonyms: %s", target.name, exc)
        pseudonyms = set()
    return {"employee_id": employee_id, "pseudonyms": sorted(pseudonyms)}


def names_sent_under(target: Target, statement_pks: Iterable[int]) -> set[str]:
    """The names the target had when these statements' deliveries to it were made: each key names
    it (``{statement id}:{target name}:{kind}...``, ``adapters.delivery.outbox.idempotency_key``;
    a target's name is a slug, without a colon)."""
    keys = (
        Delivery.objects.filter(target=target, statement_id__in=list(statement_pks))
        .values_list("idempotency_key", flat=True)
        .distinct()
    )
    return {key.split(":", 2)[1] for key in keys if key.count(":") >= 2}


def evidence_recorded_late(pks: list[int]) -> bool:
    """Whether a delivery recorded evidence of the person after the erasure flagged theirs (it
    read the statement before the erasure committed and was being sent meanwhile): flagged now,
    and their retractions run again to recompute the records it went into without it (a write
    has a new number each time: ``adapters.marketplace``); the request waits for them."""
    late = SkillEvidence.objects.filter(statement_id__in=pks, erased_at__isnull=True)
    pairs = set(late.values_list("statement_id", "target_id"))
    if not pairs:
        return False
    now = timezone.now()
    late.update(erased_at=now)
    again = functools.reduce(operator.or_, (Q(statement_id=pk, target_id=target) for pk, target in pairs))
    # Not those being sent, nor those an admin cancelled on purpose (as reconciliation's re-queue).
    retractions = Delivery.objects.filter(again, kind=RETRACT).exclude(
        status__in=[Delivery.IN_FLIGHT, Delivery.CANCELLED]
    )
    ids = list(retractions.values_list("id", flat=True))
    Delivery.objects.filter(id__in=ids).update(status=Delivery.PENDING, next_attempt_at=now, updated_at=now)
    queue.after_commit(ids)
    return True


def forget_revoked_records(keys: set[tuple[int, str, str]]) -> None:
    """Once an erasure's retractions settled: the mirror rows of the erased members' records the
    marketplace no longer holds (revoked by the retractions, or by a corrected mapping before) and
    no evidence is left for: they would name the member after the erasure. One still held, or
    whose last write is unconfirmed, stays.

    The rows are locked first, in the one order (``models.skills.skill_records_locked``)."""
    members = sorted({(target_id, member_id) for target_id, member_id, _code in keys})
    if not members:
        return
    of_members = functools.reduce(operator.or_, (Q(target_id=t, member_id=m) for t, m in members))
    revoked = SkillRecord.objects.filter(of_members, record__isnull=True, unconfirmed=False)
    with transaction.atomic():  # within the erasure's when it finishes one: locked until it commits
        locked = list(
            skill_records_locked(revoked).values_list("pk", "target_id", "member_id", "competency_code")
        )
        evidenced = set(
            SkillEvidence.objects.filter(of_members).values_list("target_id", "member_id", "competency_code")
        )
        SkillRecord.objects.filter(pk__in=[pk for pk, *key in locked if tuple(key) not in evidenced]).delete()


def statements_and_deliveries_locked(statement_pks: list[int]) -> None:
    """Lock the statements, by id, then their deliveries, by id, before an erasure changes them
    (made, and finishing). A void locks the statement it voids first (its UPDATE), then writes its
    retraction, whose foreign key waits for the original delivery's lock: an erasure that locked
    the deliveries first and then the statement (to rewrite it) waited for the void while the void
    waited for it (a deadlock). Retention deleting the statements locks their deliveries, by id,
    and only then the statements, but ``SKIP LOCKED`` (``retention_kept.still_needed``): it never
    waits for a statement, so it keeps one an erasure holds; it deletes the attempts after, which
    a finish that changed them first deadlocked with (the one order:
    ``models.skills.skill_records_locked``)."""
    if statement_pks:
        statements = Statement.objects.select_for_update().filter(id__in=statement_pks).order_by("id")
        list(statements.values_list("id", flat=True))
        deliveries_locked(Delivery.objects.filter(statement_id__in=statement_pks))


def erased_records_locked(erased: QuerySet[SkillEvidence]) -> set[tuple[int, str, str]]:
    """The (target, member, competency) records the erased evidence went into, their rows locked
    in the one order before the evidence goes (deleted, or by its statements' cascade), as
    retention deleting evidence locks them (``models.skills.skill_records_locked``)."""
    of_record = erased.filter(
        target_id=OuterRef("target_id"),
        member_id=OuterRef("member_id"),
        competency_code=OuterRef("competency_code"),
    )
    list(skill_records_locked(SkillRecord.objects.filter(Exists(of_record))).values_list("pk", flat=True))
    return set(erased.values_list("target_id", "member_id", "competency_code"))


def revocation_members(target: Target, subject: Subject) -> list[str]:
    """The erased members whose records at the target no evidence may rest on any more (a
    deleting retention removed it) and that the erasure revokes at its finish
    (``Adapter.erasure_revocations``; the marketplace: ``adapters.marketplace.revocation``):
    their employee ids, kept on the request until done. Only employees the erasure leaves without
    an identity link (all of them, by employee id; by agent, one it was the only identifier of):
    an aged-out record of an employee still linked otherwise may rest on another identifier's
    statements, whose evidence is gone too. The same before the erasure (a dry run) as after."""
    members = _left_unlinked(subject)
    return members if unevidenced_held(target.id, members).exists() else []


def revocations_planned(targets: Iterable[Target], subject: Subject) -> dict[str, int]:
    """Per target the erasure revokes at (``revocation_members``): how many records it would
    revoke now, for the dry run (and the admin's confirmation) to say."""
    if not (members := _left_unlinked(subject)):
        return {}
    counts = {target.name: unevidenced_held(target.id, members).count() for target in targets}
    return {name: count for name, count in counts.items() if count}


def _left_unlinked(subject: Subject) -> list[str]:
    """The employees the erasure leaves (or left) without an identity link: the one it names, and
    those of its links with no link of another identifier (the erasure deletes those of the
    subject's lookup keys)."""
    employees = ({subject.employee_id} | {link.employee_id for link in subject.links}) - {""}
    kept = IdentityLink.objects.filter(employee_id__in=sorted(employees - {subject.employee_id})).exclude(
        lookup_key__in=sorted(subject.lookup_keys)
    )
    return sorted(employees - set(kept.values_list("employee_id", flat=True)))


def revoke_unevidenced(request: ErasureRequest) -> bool:
    """Make the request's revocations still owed (``revocation_members``), in the erasure's
    finish; whether none is owed any more. A failure is recorded on the request's entry and
    tried again at the next finish (every minute), given up after a permanent refusal or
    ``LRS_ERASURE_NOTICE_ATTEMPTS``, as a notice is (``notices``); the mirror rows of the records
    revoked go (``forget_revoked_records``), and so do those of the records given up on
    (``_forget_unevidenced_records``): nothing revokes them any more, and they name the member."""
    owed = [name for name, entry in request.targets.items() if "revoke" in entry]
    for name in owed:
        entry = request.targets[name]
        target = notices.target_of(request, name)
        if target is None or not target.enabled:
            members = entry.pop("revoke")
            if target is not None:  # a removed one took its rows with it
                _forget_unevidenced_records(target.id, members)
            entry["revoked"] = "target removed or disabled"
            continue
        entry["revoke_attempts"] = attempts = entry.get("revoke_attempts", 0) + 1
        key = f"erasure-{request.pk}"
        context = DeliveryContext(
            target_name=target.name,
            kind="erasure",
            idempotency_key=key,
            attempt=attempts,
            target_id=target.id,
        )
        try:
            with transaction.atomic():  # a database error leaves the finish's transaction usable
                adapter = adapter_for(target.adapter, target.config)
                revoked = adapter.erasure_revocations(entry["revoke"], context)
        except Exception as exc:  # this target's failure alone; recorded, tried again
            entry["last_error"] = _revocation_failure(exc)
            logger.warning("erasure %s: records at %s not revoked: %s", key, name, entry["last_error"])
            if attempts >= settings.LRS_ERASURE_NOTICE_ATTEMPTS or getattr(exc, "permanent", False):
                _forget_unevidenced_records(target.id, entry.pop("revoke"))
                entry["revoked"] = f"gave up after {attempts} attempts: revoke them there too"
            continue
        forget_revoked_records({(target.id, member_id, "") for member_id in entry.pop("revoke")})
        entry.pop("last_error", None)
        entry["revoked"] = revoked
    if owed:
        request.save(update_fields=["targets"])
    return not any("revoke" in entry for entry in request.targets.values())


def _forget_unevidenced_records(target_id: int, member_ids: list[str]) -> None:
    """The erased members' mirror rows at the target that no evidence rests on, once their
    revocation was given up: the marketplace may still hold the records (the admin is told to
    revoke them there), but the LRS has no use left for its copy (the member's id, the record as
    sent with the learner's address), and the erasure is done. A row evidence rests on (a
    delivery of the member's, linked again) is the deliveries'. Locked in the one order
    (``models.skills.skill_records_locked``)."""
    rows = SkillRecord.objects.filter(target_id=target_id, member_id__in=sorted(member_ids))
    with transaction.atomic():
        locked = list(skill_records_locked(without_evidence(rows)).values_list("pk", flat=True))
        without_evidence(SkillRecord.objects.filter(pk__in=locked)).delete()


def _revocation_failure(exc: BaseException) -> str:
    """What the request records of a failed revocation, naming no member: it outlives the
    members' ids once given up, and a failure's own text may name them (a ``DeliveryBusy`` names
    the records it found leased; a failed request may quote its URL, the member's id in it)."""
    if isinstance(exc, DeliveryBusy):
        return "DeliveryBusy: a delivery holds one of the records: tried again"
    if isinstance(exc, AdapterError) and exc.status_code is not None:
        return f"AdapterError: the target answered {exc.status_code}"
    if isinstance(exc, AdapterError):
        return "AdapterError: no answer (timed out, or the request failed)"
    return redacted_text(failure_text(exc, (SecretUnavailable,)))[:500]
