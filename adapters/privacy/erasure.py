"""Erase a person everywhere: the statement store, documents, the identity map, delivery records,
and the effects already made at the targets.

Which statements, and what happens to them (README, "Privacy"):
- The person's own statements (their actor is the person): ``delete`` removes them, ``pseudonymise``
  keeps them with the person replaced by a stable keyed pseudonym (an ``account`` on
  ``LRS_PSEUDONYM_HOMEPAGE``, no name). A voiding statement of theirs whose target stays is kept
  in both modes (``voiding_statements_holding_targets``): pseudonymised, and in ``delete`` mode cut
  down to what voids.
- Other people's statements that name the person in another role (instructor, team, group member,
  object, authority, a SubStatement) are pseudonymised in both modes: the other learner's record
  stays whole, without the person in it.

At the targets, per target ``on_erasure`` (default ``retract`` for the PMS and the marketplace,
``ignore`` otherwise): deliveries of the person's statements not yet made are cancelled
everywhere; ``retract`` retracts every effect made, through the normal delivery path (PMS events
deleted, marketplace skills recomputed without the erased evidence). In ``delete`` mode the own
statements are hidden at once (voided) and deleted once every retraction has settled
(``finish_erasures``, run by the sweep), since a retraction reads its statement.

Also erased: state and agent-profile documents of the person, their identity links, employee
record and identity history, and the personal data kept in delivery and attempt records (error
texts, response excerpts, held keys), again when the erasure finishes: a send of the person's
statement, or of another's naming them, under way when the erasure committed records what it
read before, so the erasure waits for it. The ``ErasureRequest`` keeps counts and a keyed hash
of the identifiers, so a repeat is recognised and reports the first request's counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from adapters.base import DELIVER, RETRACT
from adapters.delivery.outbox import erased_statement_digest
from adapters.delivery.voiding import cancel_unsent, deliveries_for_voided
from adapters.identity.erased import ERASED_HOLD_REASONS, identity_erase
from adapters.models import (
    Attempt,
    Delivery,
    ErasedStatement,
    ErasureRequest,
    SkillEvidence,
    Target,
)
from adapters.privacy import notices
from adapters.privacy.per_target import (
    erased_records_locked,
    evidence_recorded_late,
    forget_revoked_records,
    notice_blocker,
    notice_for,
    retraction_blocker,
    revocation_members,
    revocations_planned,
    revoke_unevidenced,
    statements_and_deliveries_locked,
)
from adapters.privacy.subjects import Subject, pseudonym
from lrs.documents.models import Document
from lrs.documents.services import documents_of_agents_delete
from lrs.statements.erasure import (
    delete_statements,
    people_erased,
    pseudonymise_statements,
    statements_naming,
    voiding_statements_holding_targets,
)
from lrs.statements.models import Statement

MODES = (ErasureRequest.DELETE, ErasureRequest.PSEUDONYMISE)
POLICIES = ("retract", "notify", "ignore")
DEFAULT_POLICY = {"pms": "retract", "marketplace": "retract", "webhook": "notify"}
ERASED = "erased"  # what an erased error text or excerpt reads


def on_erasure(target: Target) -> str:
    return target.config.get("on_erasure") or DEFAULT_POLICY.get(target.adapter, "ignore")


@dataclass
class ErasurePlan:
    """What an erasure does (all a dry run reports)."""

    own_statements: list[int]
    other_statements: list[int]
    documents: int
    identity_links: int
    retractions: dict[str, int] = field(default_factory=dict)  # target name -> effects to retract
    policies: dict[str, str] = field(default_factory=dict)  # target name -> policy
    not_retractable: list[str] = field(default_factory=list)  # retract targets that cannot
    # Own voiding statements whose target stays: in delete mode pseudonymised and cut down, not deleted.
    own_voiding_kept: list[int] = field(default_factory=list)
    revocations: dict[str, int] = field(default_factory=dict)  # target -> aged-out records revoked

    def as_dict(self) -> dict[str, Any]:
        """What a dry run reports (the command, the privacy API)."""
        return {
            "dry_run": True,
            "own_statements": len(self.own_statements),
            "own_voiding_statements_kept_in_delete_mode": len(self.own_voiding_kept),
            "other_statements": len(self.other_statements),
            "documents": self.documents,
            "identity_links": self.identity_links,
            "retractions": self.retractions,
            "revocations": self.revocations,
            "targets": self.policies,
        }


@dataclass
class ErasureOutcome:
    request: ErasureRequest
    repeated: bool
    plan: ErasurePlan | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "erasure_request": self.request.pk,
            "repeated": self.repeated,
            "mode": self.request.mode,
            "status": self.request.status,
            "counts": self.request.counts,
            "targets": self.request.targets,
        }


def plan_erasure(subject: Subject) -> ErasurePlan:
    found = statements_naming(subject.statement_ifis)
    made = (
        Delivery.objects.filter(statement_id__in=found.own, kind=DELIVER, status=Delivery.DELIVERED)
        .values_list("target__name", flat=True)
        .order_by()
    )
    targets = list(Target.objects.all())
    policies = {target.name: on_erasure(target) for target in targets}
    unable = {
        target.name for target in targets if policies[target.name] == "retract" and retraction_blocker(target)
    }
    return ErasurePlan(
        own_statements=found.own,
        other_statements=found.others,
        documents=Document.objects.filter(agent_ifi__in=sorted(subject.ifis)).count(),
        identity_links=len(subject.links),
        retractions={
            name: count
            for name, count in Counter(made).items()
            if policies.get(name) == "retract" and name not in unable
        },
        policies=policies,
        not_retractable=sorted(unable),
        own_voiding_kept=sorted(voiding_statements_holding_targets(found.own)),
        revocations=revocations_planned(
            [t for t in targets if policies[t.name] == "retract" and t.name not in unable], subject
        ),
    )


def erase_subject(
    subject: Subject, *, mode: str, requested_by: str, dry_run: bool = False
) -> ErasureOutcome | ErasurePlan:
    """Erase the person (see the module docstring); a dry run returns the plan and writes nothing.
    A repeat of an erasure already made (same identifiers, nothing of them left) changes nothing
    and returns the first request."""
    if mode not in MODES:
        raise ValueError(f"mode must be delete or pseudonymise, not {mode!r}")
    plan = plan_erasure(subject)
    if dry_run:
        return plan
    requests = ErasureRequest.objects.filter(subject_hash__in=subject.fingerprints)
    earlier = requests.order_by("requested_at").first()
    if earlier is not None and not (
        plan.own_statements or plan.other_statements or plan.documents or subject.links
    ):
        return ErasureOutcome(earlier, repeated=True, plan=plan)
    counts: dict[str, int] = {}
    # One transaction: an erasure that fails half-way leaves nothing half-done behind (a retry
    # could not find statements already pseudonymised). The statements are locked chunk by chunk.
    with transaction.atomic():
        # The statements, then their deliveries, as a void takes them (``per_target``'s docstring):
        # no deadlock with a void or retention, no retraction's original deleted under it.
        statements_and_deliveries_locked(plan.own_statements + plan.other_statements)
        retract_ids = {
            t.id
            for t in Target.objects.all()
            if plan.policies.get(t.name) == "retract" and not retraction_blocker(t)
        }
        retractions = deliveries_for_voided(
            statement_pks=plan.own_statements,
            reason="statement erased before delivery",
            retract_target_ids=retract_ids,
        )
        counts["retractions"] = len(retractions)
        counts["evidence_rows"] = SkillEvidence.objects.filter(
            statement_id__in=plan.own_statements, erased_at__isnull=True
        ).update(erased_at=timezone.now())
        counts["delivery_records_scrubbed"] = _scrub_deliveries(
            plan.own_statements + plan.other_statements, subject.held_keys
        )
        # A voiding statement of theirs whose target stays is kept in delete mode too (Data 2.3.2:
        # voided if and only if a voiding statement refers to it), pseudonymised and cut down to
        # what voids.
        holding: set[int] = set()
        if mode == ErasureRequest.DELETE:
            holding = set(plan.own_voiding_kept)
            counts["voiding_statements_kept"] = len(holding)
        # The statements: the person's own and others naming them, rewritten without them.
        counts["statements_pseudonymised"] = pseudonymise_statements(
            plan.own_statements + plan.other_statements,
            subject.statement_ifis,
            pseudonym,
            to_voiding_core=holding,
        )
        doomed = [pk for pk in plan.own_statements if pk not in holding]
        if mode == ErasureRequest.DELETE and doomed:
            Statement.objects.filter(id__in=doomed).update(voided=True)  # hidden now
        counts["documents"] = documents_of_agents_delete(agent_ifis=sorted(subject.ifis))
        people_erased()  # every process forgets what it remembers of people, once this commits
        counts.update(
            identity_erase(
                lookup_keys=sorted(subject.lookup_keys),
                held_keys=subject.held_keys,
                employee_id=subject.employee_id,
                statement_pks=plan.own_statements + plan.other_statements,
            )
        )
        request = ErasureRequest.objects.create(
            requested_by=requested_by,
            mode=mode,
            subject_hash=subject.fingerprint,
            identifiers=len(subject.ifis),
            counts={
                "own_statements": len(plan.own_statements),
                "other_statements": len(plan.other_statements),
                **counts,
            },
            targets=_target_entries(plan, subject),
            # All their own: a failed send of a kept voiding statement is cancelled at the finish too.
            statement_pks=plan.own_statements,
            # With the voiding ones kept (delete mode): rewritten and kept, as others', not deleted.
            other_statement_pks=plan.other_statements + sorted(holding),
            status=ErasureRequest.RETRACTING,
        )
    finish_erasures(request_ids=[request.pk])
    request.refresh_from_db()
    return ErasureOutcome(request, repeated=False, plan=plan)


def _target_entries(plan: ErasurePlan, subject: Subject) -> dict[str, dict[str, Any]]:
    """Per target: its policy and how many effects it retracts, or why it cannot retract or be
    told; a target to notify keeps the message it is owed until it took it (``notices``)."""
    targets = {target.name: target for target in Target.objects.filter(name__in=list(plan.policies))}
    entries: dict[str, dict[str, Any]] = {}
    for name, policy in plan.policies.items():
        entry: dict[str, Any] = {"policy": policy, "retractions": plan.retractions.get(name, 0)}
        entry["target_id"] = targets[name].id  # found by it later: the name may change meanwhile
        if policy == "retract" and name in plan.not_retractable:
            entry["retractions"] = 0
            entry["note"] = retraction_blocker(targets[name])
        elif policy == "retract" and (members := revocation_members(targets[name], subject)):
            entry["revoke"] = members  # records no evidence rests on, revoked at the finish
        if policy == "notify":
            if (blocker := notice_blocker(targets[name])) is not None:
                entry["note"] = blocker
            else:
                entry["notice"] = notice_for(
                    targets[name], subject, plan.own_statements + plan.other_statements
                )
        entries[name] = entry
    return entries


def finish_erasures(*, request_ids: list[int] | None = None) -> int:
    """Complete erasures whose notices were taken and retractions have all settled: the erased
    evidence rows go, and delete mode deletes the statements (with their deliveries and attempts);
    returns how many finished. The sweep calls it; an erasure with nothing to retract finishes at once."""
    pending = ErasureRequest.objects.filter(status=ErasureRequest.RETRACTING)
    if request_ids is not None:
        pending = pending.filter(id__in=request_ids)
    finished = 0
    for request_id in pending.values_list("id", flat=True):
        with transaction.atomic():
            # One finisher per request (the inline call and the beat task may meet).
            request = ErasureRequest.objects.select_for_update(skip_locked=True).filter(id=request_id).first()
            if request is not None and request.status == ErasureRequest.RETRACTING:
                finished += _finish(request)
    return finished


def _finish(request: ErasureRequest) -> int:
    """Finish this request if nothing holds it back; 1 if it finished."""
    pks = request.statement_pks or []
    others = request.other_statement_pks or []  # with the person's kept voiding statements (delete mode)
    statements_and_deliveries_locked(pks + others)  # first, as a void and retention lock them
    cancel_unsent(pks, "statement erased before delivery")  # back since it was in flight: never sent now
    if owed := notices.unsent(request):
        if (pks or others) and _sending(pks + others):
            # A delivery of theirs, or of another's statement naming them, that a worker is
            # sending (an erasure cannot cancel it; it read the statement before it was
            # pseudonymised) would reach the target after the notice and leave it holding what
            # it was to erase; a retraction still to be made (voided before), that target's.
            _waiting(request, pks)  # recorded for the admin: what it waits for
            return 0
        notices.notify(request, notices.retraction_first(request, pks, owed))  # those left: next run
        if notices.unsent(request):
            _waiting(request, pks)
            return 0
    if pks and (_waiting(request, pks) or evidence_recorded_late(pks)):
        return 0
    # A send of another's statement naming the person, read before the rewrite: scrubbed below.
    if others and _sending(others):
        return 0
    if not revoke_unevidenced(request):  # records retention left without evidence: tried again
        return 0
    erased = SkillEvidence.objects.filter(statement_id__in=pks, erased_at__isnull=False)
    records = erased_records_locked(erased)  # before a cascade, the rows locked before the evidence goes
    if (doomed := sorted(set(pks) - set(others))) and request.mode == ErasureRequest.DELETE:
        # Their ids, kept hashed: one stored again is a new record, sent under keys naming this
        # erasure (a new row for an id erased before: a record stored after it is this one's).
        ids = Statement.objects.filter(id__in=doomed).values_list("statement_id", flat=True)
        digests = [erased_statement_digest(str(id_)) for id_ in ids]
        ErasedStatement.objects.filter(digest__in=digests).delete()
        ErasedStatement.objects.bulk_create(
            [ErasedStatement(digest=digest) for digest in digests], ignore_conflicts=True
        )
        attempts = Attempt.objects.filter(delivery__statement_id__in=doomed).delete()[0]
        deliveries = Delivery.objects.filter(statement_id__in=doomed).delete()[0]
        removed = delete_statements(doomed)
        request.counts = {
            **request.counts,
            "statements_deleted": removed["statements"],
            "attachments_deleted": removed["attachments"],
            "deliveries_deleted": deliveries,
            "attempts_deleted": attempts,
        }
    elif pks:  # what attempts made since the erasure recorded (an answer may quote the person)
        _scrub_deliveries(pks, [])
    if others:
        _scrub_deliveries(others, [])
    erased.delete()
    forget_revoked_records(records)
    # Retractions and notices sent since the erasure named the person again in some process's
    # memory (a marketplace retraction's member pseudonym): forgotten again, now they have settled.
    people_erased()
    request.status = ErasureRequest.DONE
    request.statement_pks, request.other_statement_pks = [], []
    request.finished_at = timezone.now()
    request.save(update_fields=["counts", "status", "statement_pks", "other_statement_pks", "finished_at"])
    return 1


def _waiting(request: ErasureRequest, pks: list[int]) -> bool:
    """Whether the request must wait: a retraction not made yet (pending, retrying, in flight;
    or stuck: held, dead, outcome unknown, which an admin must settle, by replaying or cancelling
    it), or an original delivery still being sent (its worker must not find its rows gone).
    Records the retractions not made yet, by status, on the request (``retractions_waiting``)."""
    if not pks:
        return False
    rows = Delivery.objects.filter(statement_id__in=pks)
    sending = _sending(pks)
    stuck = list(
        rows.filter(kind=RETRACT)
        .exclude(status__in=[Delivery.DELIVERED, Delivery.CANCELLED])
        .values_list("status", flat=True)
    )
    waiting = {status: stuck.count(status) for status in set(stuck)}
    if request.counts.get("retractions_waiting") != waiting:
        request.counts = {**request.counts, "retractions_waiting": waiting}
        request.save(update_fields=["counts"])
    return sending or bool(stuck)


def _sending(pks: list[int]) -> bool:
    return Delivery.objects.filter(statement_id__in=pks, status=Delivery.IN_FLIGHT).exists()


def _scrub_deliveries(statement_pks: list[int], held_keys: list[str]) -> int:
    """Personal data in delivery records of these statements: error texts, response excerpts (a
    target's answer may quote the learner), the requests recorded for failed attempts (they carry
    the employee id), and the person's held keys (their address, its SHA-1). Another learner's held
    key stays: it is how their delivery is released once they are linked (``identity_erase``
    cancels the person's own held deliveries)."""
    deliveries = Delivery.objects.filter(statement_id__in=statement_pks)
    Attempt.objects.filter(delivery__statement_id__in=statement_pks).update(
        error=ERASED, response_excerpt="", request=""
    )
    # (Held ones keep it a moment longer: ``identity_erase`` finds them by it to cancel them.)
    deliveries.filter(held_key__in=held_keys).exclude(status=Delivery.HELD).update(held_key="")
    # The reasons an erasure records for the holds it cancelled name no one: kept, for the admin.
    return deliveries.exclude(last_error__in=["", *ERASED_HOLD_REASONS]).update(last_error=ERASED)
