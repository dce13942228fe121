"""Property: whatever the order statements of one or two learners about one or two activities
(completions, failures, scored attempts), voids, failed attempts (applied or not), deliveries and
corrections of the competency mapping happen in (a code added or dropped, a level rule changed,
failures awarding or no longer, an activity no longer mapped, a new version only; edited in place,
saved as a new active version, or rolled back to an earlier one), each perhaps followed by a forced
backfill, under either level policy:

- once every delivery ran, the marketplace holds, per (member, competency), exactly the record a
  from-scratch computation gives over the live statements *as last evaluated*: each statement is
  evidence under the mapping that was active when its delivery last ran (a forced backfill runs
  every live statement's delivery again, under the mapping active then; a statement delivered
  before a correction that no backfill followed keeps what the earlier mapping gave it);
- a reconciliation run finds no drift (the marketplace already holds what the evidence as last
  evaluated gives), and after its repair a second run finds none either.

The expected records follow the adapter's contract (adapters/marketplace/adapter.py), computed
here from the statements and the mappings drawn, not from the adapter's ledger."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import DELIVER
from adapters.delivery.replay import backfill
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import CompetencyMapping, Delivery, Target
from adapters.reconciliation.run import reconcile
from lrs.statements.store import statement_store
from tests.adapters.helpers import ADL, COURSE, expand_outbox, voiding, voids_after_their_store
from tests.adapters.helpers import run_pending as shared_run_pending
from tests.adapters.marketplace.test_skill_state_properties import SCORES, TIMESTAMPS
from tests.conftest import make_statement

# Examples per property; LRS_MARKETPLACE_MAPPING_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_MARKETPLACE_MAPPING_EXAMPLES", "40"))

pytestmark = pytest.mark.django_db

FIRST_AID = "https://lms.example.com/courses/first-aid-201"
ACTIVITIES = (COURSE, FIRST_AID)
CODES = ("FIRST-AID", "SAFETY-BASICS")
LEARNERS = {"learner@example.com": "E100", "colleague@example.com": "E200"}
# Level rules a mapping may give: fixed ones, the fixture's thresholds (3 without a score), and
# thresholds without ``no_score`` that award nothing below 40 or without a score.
LEVELS = (
    {"fixed": 2},
    {"fixed": 4},
    {"thresholds": [[90, 5], [75, 4], [50, 3], [0, 2]], "no_score": 3},
    {"thresholds": [[80, 5], [40, 2]]},
)

# A mapping as drawn: activity -> (codes, index into LEVELS, award_on_failure); an activity
# absent is not mapped.
Rules = dict[str, tuple[tuple[str, ...], int, bool]]

RULE = st.tuples(
    st.sets(st.sampled_from(CODES), min_size=1).map(lambda codes: tuple(sorted(codes))),
    st.integers(0, len(LEVELS) - 1),
    st.booleans(),
)
VERBS = ("completed", "attempted", "failed")


def as_json(rules: Rules) -> list[dict]:
    return [
        {"activity_id": activity, "codes": list(codes), "level": LEVELS[level], "award_on_failure": failing}
        for activity, (codes, level, failing) in sorted(rules.items())
    ]


def level_for(rule: dict, scaled: float | None) -> int | None:
    """The level a rule awards (adapters/rules/competencies.py's module doc): fixed, or the first
    threshold the score as a percentage (scaled x 100, negative is 0) reaches; ``no_score`` or
    nothing without a score; nothing below every threshold."""
    if "fixed" in rule:
        return rule["fixed"]
    if scaled is None:
        return rule.get("no_score")
    score = max(scaled, 0) * 100
    return next((level for minimum, level in rule["thresholds"] if score >= minimum), None)


def correct(data, rules: Rules) -> Rules:
    """One correction of the mapping, drawn: a code added (or an unmapped activity mapped), a code
    dropped, a level rule changed, failures awarding or no longer, an activity no longer mapped,
    or nothing but the version."""
    activity = data.draw(st.sampled_from(ACTIVITIES), label="corrected activity")
    fixed = dict(rules)
    if activity not in rules:
        kinds = ["add", "version"]
    else:
        codes, _level, _failing = rules[activity]
        kinds = ["level", "failures", "unmap", "version"] + (["add"] if len(codes) < len(CODES) else [])
        kinds += ["drop"] if len(codes) > 1 else []
    kind = data.draw(st.sampled_from(kinds), label="correction")
    if activity in rules:
        codes, level, failing = rules[activity]
    else:
        codes, (_codes, level, failing) = (), data.draw(RULE, label="new rule")
    if kind == "add":
        added = data.draw(st.sampled_from([code for code in CODES if code not in codes]), label="added")
        fixed[activity] = (tuple(sorted({*codes, added})), level, failing)
    elif kind == "drop":
        dropped = data.draw(st.sampled_from(codes), label="dropped")
        fixed[activity] = (tuple(code for code in codes if code != dropped), level, failing)
    elif kind == "level":
        other = data.draw(st.sampled_from([i for i in range(len(LEVELS)) if i != level]), label="new level")
        fixed[activity] = (codes, other, failing)
    elif kind == "failures":
        fixed[activity] = (codes, level, not failing)
    elif kind == "unmap":
        del fixed[activity]
    return fixed


def apply_correction(data, mapping: dict, version: str, versions: dict[str, Rules]) -> None:
    """Correct the active mapping, as drawn: its rules edited in place under a new version (as an
    admin fixing a typo), a new version saved as the active one (as the admin saves it), or an
    earlier version made active again (a correction rolled back)."""
    earlier = sorted(
        set(CompetencyMapping.objects.filter(is_active=False).values_list("version", flat=True))
        & set(versions)
    )
    how = data.draw(
        st.sampled_from(["in place", "new version"] + (["roll back"] if earlier else [])), label="how"
    )
    if how == "roll back":
        mapping["version"] = data.draw(st.sampled_from(earlier), label="rolled back to")
        mapping["rules"] = versions[mapping["version"]]
        CompetencyMapping.objects.update(is_active=False)
        CompetencyMapping.objects.filter(version=mapping["version"]).update(is_active=True)
        return
    mapping["rules"], mapping["version"] = correct(data, mapping["rules"]), version
    versions[version] = mapping["rules"]
    if how == "in place":
        CompetencyMapping.objects.filter(is_active=True).update(
            version=version, rules=as_json(mapping["rules"])
        )
    else:
        CompetencyMapping.objects.update(is_active=False)
        CompetencyMapping.objects.create(version=version, rules=as_json(mapping["rules"]), is_active=True)


def run_pending(marketplace, data, evaluated: dict[str, tuple[str, Rules]], active, *, all_of_them=False):
    """``helpers.run_pending``, noting in ``evaluated`` the mapping (version, rules) active when
    each statement's delivery last ran to the end: the one its evidence must be under."""

    def note_mapping(delivery_id: int) -> None:
        row = Delivery.objects.get(id=delivery_id)
        if row.kind == DELIVER and row.status == Delivery.DELIVERED:
            evaluated[str(row.statement_uuid)] = active()

    shared_run_pending(marketplace, data, all_of_them=all_of_them, after=note_mapping)


def expected_records(pieces, ids, voided, evaluated, policy: str) -> dict[tuple[str, str], dict]:
    """Per (member, competency): the record the live statements give, each under the mapping its
    delivery last applied (adapters/marketplace/adapter.py): the level of the deciding evidence,
    the latest of those with the highest level (``highest``) or the latest (``latest``), with its
    score, mapping version and actor's address; the date of the latest evidence, completed when any
    is a completion; the evidence latest first."""
    awarded: dict[tuple[str, str], list[dict]] = {}
    for i, (email, activity, scaled, timestamp, verb) in enumerate(pieces):
        # The target's filter (adapters/rules/filters.py, its default) takes a completion, a
        # failure or a scored statement: an unscored attempt is no statement the target took.
        if i in voided or (verb == "attempted" and scaled is None):
            continue
        version, rules = evaluated[ids[i]]
        if activity not in rules:
            continue
        codes, level_rule, failing = rules[activity]
        level = level_for(LEVELS[level_rule], scaled)
        if level is None or (verb == "failed" and not failing):
            continue
        for code in codes:
            awarded.setdefault((LEARNERS[email], code), []).append(
                {
                    "id": ids[i],
                    "email": email,
                    "activity": activity,
                    "timestamp": timestamp,
                    "completed": verb == "completed",
                    "score": None if scaled is None else round(max(scaled, 0) * 100, 2),
                    "level": level,
                    "version": version,
                }
            )
    expected = {}
    for (member, code), items in awarded.items():
        latest_first = sorted(items, key=lambda item: (item["timestamp"], item["id"]), reverse=True)
        top = max(item["level"] for item in items)
        deciding = next(item for item in latest_first if policy == "latest" or item["level"] == top)
        expected[(member, code)] = {
            "memberId": member,
            "competencyCode": code,
            "email": deciding["email"],
            "level": deciding["level"],
            "mappingVersion": deciding["version"],
            "score": deciding["score"],
            "learningCompleted": {
                "completed": any(item["completed"] for item in items),
                "date": latest_first[0]["timestamp"][:10],
            },
            "evidence": [
                {"statementId": item["id"], "activityId": item["activity"], "date": item["timestamp"][:10]}
                for item in latest_first
            ],
        }
    return expected


def held(marketplace) -> dict[tuple[str, str], dict]:
    """The fields of each record the marketplace holds that the contract fixes."""
    fields = (
        "memberId",
        "competencyCode",
        "email",
        "level",
        "mappingVersion",
        "learningCompleted",
        "evidence",
    )
    return {
        key: {field: record.get(field) for field in fields} | {"score": record.get("score")}
        for key, record in marketplace.skills().items()
    }


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrected_mappings_leave_the_records_the_live_evidence_gives_as_last_evaluated(market_target, data):
    marketplace = market_target
    with transaction.atomic():
        marketplace.reset()
        policy = data.draw(st.sampled_from(["highest", "latest"]), label="level policy")
        market = Target.objects.get(name="market")
        market.config = {**market.config, "level_policy": policy}
        market.save()
        two_learners = data.draw(st.booleans(), label="a colleague at E200")
        if two_learners:
            identity_links_upsert(
                employee_id="E200", identifiers=Identifiers(emails=["colleague@example.com"])
            )
        learners = st.sampled_from(sorted(LEARNERS)) if two_learners else st.just("learner@example.com")
        activities = (
            st.sampled_from(ACTIVITIES)
            if data.draw(st.booleans(), label="two activities")
            else st.just(COURSE)
        )
        pieces = data.draw(
            st.lists(
                st.tuples(learners, activities, SCORES, TIMESTAMPS, st.sampled_from(["completed", *VERBS])),
                min_size=1,
                max_size=6,
            ),
            label="statements (learner, activity, scaled, timestamp, verb)",
        )
        ids = [str(uuid.uuid4()) for _ in pieces]
        voided = data.draw(st.sets(st.sampled_from(range(len(pieces))), max_size=3), label="voided")
        rules: Rules = data.draw(
            st.fixed_dictionaries({COURSE: RULE}, optional={FIRST_AID: RULE}), label="first mapping"
        )
        mapping = {"version": "2026.1", "rules": rules}
        versions: dict[str, Rules] = {"2026.1": rules}  # what each version maps, as first saved
        CompetencyMapping.objects.filter(is_active=True).update(version="2026.1", rules=as_json(rules))
        fixes = data.draw(
            st.lists(st.sampled_from([True, True, False]), min_size=1, max_size=3), label="backfills"
        )
        steps = (
            [("store", i) for i in range(len(pieces))]
            + [("void", i) for i in voided]
            + [("fix", i) for i in range(len(fixes))]
        )

        def active() -> tuple[str, Rules]:
            return mapping["version"], mapping["rules"]

        evaluated: dict[str, tuple[str, Rules]] = {}
        for kind, index in voids_after_their_store(data.draw(st.permutations(steps), label="order")):
            if kind == "fix":
                apply_correction(data, mapping, f"2026.{index + 2}", versions)
                if fixes[index]:
                    backfill(target=Target.objects.get(name="market"), force=True)
            elif kind == "store":
                email, activity, scaled, timestamp, verb = pieces[index]
                result = {"score": {"scaled": scaled}} if scaled is not None else {}
                statement = make_statement(
                    actor_email=email,
                    verb=ADL + verb,
                    activity=activity,
                    timestamp=timestamp,
                    statement_id=ids[index],
                    **({"result": result} if result else {}),
                )
                statement_store(statements=[statement], credential=None)
            else:
                statement_store(statements=[voiding(ids[index])], credential=None)
            expand_outbox()
            run_pending(marketplace, data, evaluated, active)
        run_pending(marketplace, data, evaluated, active, all_of_them=True)

        stuck = Delivery.objects.filter(status__in=[Delivery.HELD, Delivery.DEAD, Delivery.UNKNOWN])
        assert not stuck.exists(), list(stuck.values_list("kind", "status", "last_error"))
        expected = expected_records(pieces, ids, voided, evaluated, policy)
        assert held(marketplace) == expected, evaluated

        # Reconciliation: its repair (deliveries in hypothesis's order, some failing), then a
        # second run that must find nothing to mend.
        now = timezone.now()
        window = {"since": now - timedelta(hours=1), "until": now + timedelta(minutes=1)}
        first = reconcile(target=Target.objects.get(name="market"), repair=True, **window)
        # A statement delivered under a mapping that awarded it nothing stands as last evaluated,
        # as one that recorded evidence does (adapters/marketplace/reconcile.py, ``undelivered``).
        assert (first.drift_percent or 0.0) == 0.0, first.mismatches
        run_pending(marketplace, data, evaluated, active, all_of_them=True)
        second = reconcile(target=Target.objects.get(name="market"), **window)
        assert (second.drift_percent or 0.0) == 0.0, (second.mismatches, held(marketplace))
        assert not stuck.exists(), list(stuck.values_list("kind", "status", "last_error"))
        transaction.set_rollback(True)
