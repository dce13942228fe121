"""Property: every kind of target enabled at once (a PMS, a marketplace, a Teams channel, a Slack
bot channel and a webhook), whatever the order of two learners' completions (scored or not), voids
(before or after their statement), a forced backfill or a replay, one target failing for a while
(a 500 it did not apply, one it applied, a 429), the second learner's identity link arriving late,
and at most one erasure (either mode) of one learner, once everything has run each target holds
what its contract says (the docstrings of adapters/pms/adapter.py, adapters/marketplace/adapter.py,
adapters/msteams/adapter.py, adapters/slack/adapter.py, adapters/webhook/adapter.py and
adapters/privacy/erasure.py), reconciliation finds nothing amiss at the PMS and the marketplace,
and nothing sent after the erasure names the erased learner.

The first learner is linked by e-mail (E100, ``fake_env``), the second by an LMS account (E200),
linked by the HRIS feed at a drawn step: until then their statements are unmapped (the PMS and the
marketplace hold them; the channels and the webhook need no mapping). The erased learner's
statements are all stored before the erasure (one stored after is a new record: the erasure
property test, tests/adapters/privacy/test_erasure_properties.py, covers it).
``LRS_ALL_TARGETS_EXAMPLES`` sets the number of examples (default 15).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.delivery.drain import delivery_send
from adapters.delivery.replay import backfill, deliveries_replay, deliveries_resolve_unknown
from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import Delivery, ErasureRequest, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from adapters.reconciliation.run import reconcile
from adapters.slack import throttle
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, expand_outbox, teams_channel_config, voiding
from tests.adapters.marketplace.expected import Evidence, expected_record, held_record
from tests.conftest import make_statement
from tests.targets.behaviours import applied_then, retry_after, status

EXAMPLES = int(os.environ.get("LRS_ALL_TARGETS_EXAMPLES", "15"))

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("retries_far_off")]

MAIL, ACCOUNT = "mail", "account"  # the learner linked by e-mail, the one linked by account
MEMBER = {MAIL: "E100", ACCOUNT: "E200"}
NAME = {MAIL: "Alice Mailed", ACCOUNT: "Bob Accounted"}
EMAIL = "learner@example.com"  # linked to E100 by fake_env
LMS_ACCOUNT = {"homePage": "https://lms.example.com", "name": "bob-7731"}
SKILL = "SAFETY-BASICS"
CHANNEL = "19:learning@thread.tacv2"
TARGETS = ["pms", "market", "teams", "slack", "hook"]
SCORES = st.sampled_from([None, 0.3, 0.55, 0.8, 0.95])
TIMESTAMPS = st.builds(
    lambda day, hour: f"2026-03-{day:02d}T{hour:02d}:00:00Z", st.integers(1, 9), st.integers(0, 23)
)
SLACK_METHODS = ["chat.postMessage", "users.lookupByEmail", "conversations.list", "conversations.history"]
FAILURES = {
    "500": lambda: status(500),
    "applied 500": lambda: applied_then(500),
    "429": lambda: retry_after(1),
}


@pytest.fixture
def all_targets(pms_target, market_target, slack_target, graph_server, webhook_target, monkeypatch):
    """The five targets, each at its fake; returns the fakes by target name."""
    monkeypatch.setenv("GRAPH_REFRESH", graph_server.issue_refresh_token())
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    return {
        "pms": pms_target,
        "market": market_target,
        "teams": graph_server,
        "slack": slack_target,
        "hook": webhook_target,
    }


def create_other_targets(fakes) -> None:
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config={**teams_channel_config(fakes["teams"], CHANNEL), "timeout_seconds": 2},
    )
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": fakes["hook"].url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "timeout_seconds": 2},
    )


def statement(owner: str, index: int, scaled: float | None, timestamp: str, statement_id: str) -> dict:
    result = {"completion": True, **({"score": {"scaled": scaled}} if scaled is not None else {})}
    made = make_statement(
        actor_email=EMAIL, activity=COURSE, result=result, timestamp=timestamp, statement_id=statement_id
    )
    # A name per statement tells its channel message from another's (marker()).
    made["actor"] = {"objectType": "Agent", "name": f"{NAME[owner]} {index}"}
    if owner == MAIL:
        made["actor"]["mbox"] = f"mailto:{EMAIL}"
    else:
        made["actor"]["account"] = dict(LMS_ACCOUNT)
    return made


def marker(owner: str, index: int) -> str:
    return f"{NAME[owner]} {index} "


class Run:
    def __init__(self, fakes, data):
        self.fakes, self.data = fakes, data
        self.failing: str | None = None  # the target failing for a while
        self.failure = "500"
        self.failures_left = 0
        self.names = {t.id: t.name for t in Target.objects.all()}

    def due(self) -> list[int]:
        return sorted(
            Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING]).values_list(
                "id", flat=True
            )
        )

    def send(self, delivery_id: int, *, failing: bool = True) -> None:
        delivery = Delivery.objects.get(id=delivery_id)
        name = self.names[delivery.target_id]
        fake = self.fakes[name]
        if failing and name == self.failing and self.failures_left > 0 and delivery.attempts < 3:
            self.failures_left -= 1
            fake.enqueue(FAILURES[self.failure]())
        Delivery.objects.filter(id=delivery_id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        # The property is about state, not pacing: failed attempts must not pause a target, nor
        # Slack's Retry-After hold a method in real time (adapters/slack/throttle.py).
        Target.objects.update(paused_until=None, consecutive_failures=0)
        slack = self.fakes["slack"]
        cache.delete_many([throttle.key_for(slack.api_url, slack.bot_token, m) for m in SLACK_METHODS])
        delivery_send(delivery_id)
        fake.clear_queue()  # a failure this delivery did not use lapses

    def pending(self, *, all_of_them: bool = False, failing: bool = True) -> None:
        while True:
            due = self.due()
            if not due or (not all_of_them and not self.data.draw(st.booleans(), label="deliver one more")):
                return
            self.send(self.data.draw(st.sampled_from(due), label="deliver"), failing=failing)

    def teams_texts(self) -> list[str]:
        return [re.sub("<[^>]+>", "", m["body"]["content"]) for m in self.fakes["teams"].channel_messages()]

    def admin_resolves_unknown(self, markers: dict[str, str]) -> None:
        """An admin looks in Teams (Graph cannot be asked): delivered if there, else sent again."""
        for delivery in Delivery.objects.filter(status=Delivery.UNKNOWN):
            wanted = markers.get(str(delivery.statement_uuid))
            there = wanted is not None and any(text.startswith(wanted) for text in self.teams_texts())
            deliveries_resolve_unknown(delivery_ids=[delivery.id], delivered=there)

    def settle(self, markers: dict[str, str]) -> None:
        for _round in range(8):
            self.pending(all_of_them=True)
            deliveries_replay()
            self.admin_resolves_unknown(markers)
            self.pending(all_of_them=True, failing=False)
            finish_erasures()
            undone = ErasureRequest.objects.exclude(status=ErasureRequest.DONE).exists()
            if (
                not self.due()
                and not undone
                and not Delivery.objects.filter(status=Delivery.UNKNOWN).exists()
            ):
                return
        raise AssertionError("the deliveries and the erasure did not settle")


def order_steps(order: list[tuple[str, int]], owners: list[str], erased: str | None) -> list[tuple[str, int]]:
    """The drawn order, made meaningful: the erased learner's stores (and, if it is the account
    learner, their link) before the erasure; an early void stays just before its statement."""
    if erased is None:
        return order
    erase = order.index(("erase", 0))
    must_precede = {("store", i) for i, owner in enumerate(owners) if owner == erased}
    if erased == ACCOUNT:
        must_precede.add(("link", 0))
    moved = [step for step in order[erase:] if step in must_precede]
    rest = [step for step in order if step not in moved]
    at = rest.index(("erase", 0))
    return rest[:at] + moved + rest[at:]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_target_at_once_holds_its_contract(all_targets, data):
    fakes = all_targets
    with transaction.atomic():
        for fake in fakes.values():
            fake.reset()
        create_other_targets(fakes)
        run = Run(fakes, data)
        owners = data.draw(st.lists(st.sampled_from([MAIL, ACCOUNT]), min_size=1, max_size=5), label="owners")
        pieces = [data.draw(st.tuples(SCORES, TIMESTAMPS), label="evidence") for _ in owners]
        ids = [str(uuid.uuid4()) for _ in owners]
        markers = {ids[i]: marker(owners[i], i) for i in range(len(owners))}
        voided = data.draw(st.sets(st.sampled_from(range(len(owners)))), label="voided")
        early = data.draw(
            st.sets(st.sampled_from(sorted(voided))) if voided else st.just(set()), label="early"
        )
        erased = data.draw(st.sampled_from([None, MAIL, ACCOUNT]), label="erased")
        mode = data.draw(st.sampled_from(["delete", "pseudonymise"]), label="mode")
        run.failing = data.draw(st.sampled_from([None, *TARGETS]), label="failing target")
        run.failure = data.draw(st.sampled_from(sorted(FAILURES)), label="failure")
        run.failures_left = data.draw(st.integers(1, 4), label="failures")
        extra = data.draw(
            st.lists(st.sampled_from(["backfill", "replay"]), max_size=2, unique=True), label="extra"
        )
        steps = (
            [("store", i) for i in range(len(owners))]
            + [("void", i) for i in voided]
            + [("link", 0)]
            + ([("erase", 0)] if erased else [])
            + [(kind, 0) for kind in extra]
        )
        order = order_steps(data.draw(st.permutations(steps), label="order"), owners, erased)
        # A void after its statement, but an early one (xAPI Data 2.3.2 allows it) just before.
        order = [step for step in order if step[0] != "void"]
        for index in voided:
            store = order.index(("store", index))
            if index in early:
                order.insert(store, ("void", index))
            else:
                after = data.draw(st.integers(store + 1, len(order)), label="void at")
                order.insert(after, ("void", index))
        mark: dict[str, int] | None = None
        for kind, index in order:
            if kind == "store":
                made = statement(owners[index], index, *pieces[index], ids[index])
                statement_store(statements=[made], credential=None)
            elif kind == "void":
                statement_store(
                    statements=[voiding(ids[index], actor_email="admin@example.com")], credential=None
                )
            elif kind == "link":  # the HRIS feed links the account learner, late perhaps
                identity_links_upsert(
                    employee_id=MEMBER[ACCOUNT], identifiers=Identifiers(accounts=[LMS_ACCOUNT])
                )
            elif kind == "erase":
                erase_subject(subject_for(employee_id=MEMBER[erased]), mode=mode, requested_by="dpo")
                mark = {name: len(fake.requests) for name, fake in fakes.items()}
            elif kind == "backfill":
                name = data.draw(st.sampled_from(TARGETS), label="backfill at")
                backfill(target=Target.objects.get(name=name), force=True)
            elif kind == "replay":
                deliveries_replay(
                    target=Target.objects.get(name=data.draw(st.sampled_from(TARGETS), label="at"))
                )
            expand_outbox()
            run.pending()
        run.settle(markers)

        kept = [i for i in range(len(owners)) if owners[i] != erased]
        live = [i for i in kept if i not in voided]
        context = {"order": order, "owners": owners, "erased": erased, "mode": mode}

        # PMS: one event per live statement of a learner not erased, under their employee id.
        held = sorted((e["statementId"], e["employeeId"]) for e in fakes["pms"].events().values())
        assert held == sorted((ids[i], MEMBER[owners[i]]) for i in live), (held, context)

        # Marketplace: each learner's record is what their live evidence gives; none of the erased.
        skills = fakes["market"].skills()
        for owner in (MAIL, ACCOUNT):
            evidence = [
                Evidence(ids[i], f"{pieces[i][1][:-1]}.000000Z", pieces[i][0])
                for i in live
                if owners[i] == owner
            ]
            assert held_record(skills.get((MEMBER[owner], SKILL))) == expected_record(evidence), (
                owner,
                context,
            )

        # Teams and Slack: one message per live statement; at most one for a statement voided after
        # it came or of the erased learner (Graph and Slack messages stay: on_erasure "ignore").
        slack_texts = [m["text"] for m in fakes["slack"].messages()]
        for channel, texts in (("teams", run.teams_texts()), ("slack", slack_texts)):
            for i, statement_id in enumerate(ids):
                own = [t for t in texts if markers[statement_id] in t]
                if i in early:
                    assert own == [], (channel, i, own, context)
                elif i in live:
                    assert len(own) == 1, (channel, i, own, context)
                else:
                    assert len(own) <= 1, (channel, i, own, context)
            assert all(any(m in t for m in markers.values()) for t in texts), (channel, texts)

        # Webhook: per statement, "statement.stored" (and "statement.voided" after it if voided).
        events: dict[str, list[str]] = {}
        erased_notices = 0
        for event in fakes["hook"].effects():
            if event["event"] == "actor.erased":
                erased_notices += 1
                continue
            events.setdefault(event["statement"]["id"], []).append(event["event"])
        for i, statement_id in enumerate(ids):
            got = events.get(statement_id, [])
            if i in early:
                assert got == [], (i, got, context)
            elif i in live:
                assert got == ["statement.stored"], (i, got, context)
            else:
                allowed = [
                    [],
                    ["statement.stored"],
                    ["statement.stored", "statement.voided"],
                    ["statement.voided"],
                ]
                assert got in allowed, (i, got, context)
        assert erased_notices <= (1 if erased else 0), (erased_notices, context)

        # Reconciliation agrees with the PMS and the marketplace.
        now = timezone.now()
        for name in ("pms", "market"):
            checked = reconcile(
                target=Target.objects.get(name=name),
                since=now - timedelta(hours=1),
                until=now + timedelta(minutes=1),
            )
            assert (
                checked.counts.get("missing"),
                checked.counts.get("extra"),
                checked.counts.get("different"),
            ) in (
                (0, 0, 0),
                (None, None, None),
            ), (name, checked.counts, checked.mismatches, context)
            assert not checked.mismatches, (name, checked.mismatches, context)

        # Nothing sent after the erasure names the erased learner.
        if erased is not None:
            assert mark is not None
            names = [NAME[erased], EMAIL if erased == MAIL else LMS_ACCOUNT["name"]]
            for name, fake in fakes.items():
                for request in fake.requests[mark[name] :]:
                    body = request.body.decode(errors="replace")
                    assert not any(n in body for n in names), (
                        name,
                        request.method,
                        request.path,
                        body,
                        context,
                    )
            # Nor carries a statement of theirs as an event or as evidence. (The webhook may get
            # one as statement.stored, pseudonymised, by a replay of what the erasure cancelled:
            # an open product question, test_erasure_replay_channels.py, strict xfail.)
            erased_ids = {ids[i] for i in range(len(owners)) if owners[i] == erased}
            for name in ("pms", "market"):
                for request in fakes[name].requests[mark[name] :]:
                    if request.method != "POST" or not isinstance(request.json, dict):
                        continue
                    carried = {e["statementId"] for e in request.json.get("evidence", [])}
                    carried |= {request.json.get("statementId")} - {None}
                    assert not carried & erased_ids, (name, request.path, request.json, context)
            assert ErasureRequest.objects.get().status == ErasureRequest.DONE
        transaction.set_rollback(True)
