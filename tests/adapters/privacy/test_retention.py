"""Retention (``adapters.apply_retention`` nightly, ``manage.py apply_retention``): statements older
than the policy go, with their index rows, deliveries, attempts and the attachment bytes no other
statement needs, or are pseudonymised; newer ones and those with an open delivery stay; attempt
bodies are emptied after their own cut-off; work goes in bounded batches; each run is recorded,
and a second run does nothing."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from adapters.models import Attempt, Delivery, OutboxBatch, RetentionRun, Target
from adapters.privacy import retention
from adapters.privacy.erasure import pseudonym
from adapters.privacy.retention import Policy, apply_retention, retention_pseudonym
from adapters.privacy.retention_preview import retention_preview
from adapters.privacy.tasks import RETENTION_TASK
from config import settings as project_settings
from config.celery import app as celery_app
from lrs.attachment_store import AttachmentContent
from lrs.documents.models import Document
from lrs.statements.models import Statement, StatementActivity, StatementAgent
from lrs.statements.store import statement_store
from lrs.xapi.agents import agent_ifi
from lrs.xapi.multipart import AttachmentPart
from tests.conftest import make_statement

pytestmark = pytest.mark.django_db

ADA = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.com"}
BOB = {"objectType": "Agent", "name": "Bob", "mbox": "mailto:bob@example.com"}


@pytest.fixture(autouse=True)
def policy(settings):
    """Statements kept 30 days (deleted), documents kept forever, attempt bodies 30 days."""
    settings.LRS_RETENTION_DAYS = 30
    settings.LRS_RETENTION_MODE = "delete"
    settings.LRS_DOCUMENT_RETENTION_DAYS = 0
    settings.LRS_ATTEMPT_BODY_RETENTION_DAYS = 30
    settings.LRS_RETENTION_BATCH_SIZE = 1000
    return settings


@pytest.fixture
def target() -> Target:
    """A disabled target: storing writes no outbox entry for it (the tests make its deliveries)."""
    return Target.objects.create(name="pms", adapter="pms", config={}, enabled=False)


def store(count: int, *, days_ago: int = 0, actor: dict = ADA, **parts) -> list[int]:
    """``count`` statements, stored ``days_ago`` days ago (index rows too); their keys."""
    attachments = parts.pop("_parts", ())  # the raw parts of a multipart request
    statements = [
        {**make_statement(statement_id=str(uuid.uuid4())), "actor": actor, **parts} for _ in range(count)
    ]
    ids = statement_store(statements=statements, credential=None, attachments=attachments)
    pks = list(Statement.objects.filter(statement_id__in=ids).order_by("id").values_list("id", flat=True))
    if days_ago:
        when = timezone.now() - timedelta(days=days_ago)
        for model in (Statement, StatementAgent, StatementActivity):
            key = "id" if model is Statement else "statement_id"
            model.objects.filter(**{f"{key}__in": pks}).update(stored=when)
    return pks


def deliver(target: Target, pks: Iterable[int], status: str = Delivery.DELIVERED, attempts_days_ago: int = 0):
    """A delivery of each statement with one attempt carrying an error text and a response excerpt."""
    started = timezone.now() - timedelta(days=attempts_days_ago)
    for pk in pks:
        row = Statement.objects.get(id=pk)
        delivery = Delivery.objects.create(
            target=target,
            statement=row,
            statement_uuid=row.statement_id,
            status=status,
            attempts=1,
            idempotency_key=f"key-{pk}",
            next_attempt_at=timezone.now(),
        )
        Attempt.objects.create(
            delivery=delivery,
            number=1,
            started_at=started,
            outcome=Attempt.SUCCESS,
            status_code=200,
            error="HTTP 503 for ada@example.com",
            response_excerpt='{"learner": "ada@example.com"}',
            request='POST https://pms.example/api/v1/learning-events\n{"employeeId": "E1"}',
        )


def present(pks: Iterable[int]) -> set[int]:
    return set(Statement.objects.filter(id__in=list(pks)).values_list("id", flat=True))


def test_statements_older_than_the_policy_go_with_index_rows_deliveries_and_attempts_and_newer_stay(target):
    old, new = store(3, days_ago=40), store(2, days_ago=10)
    deliver(target, old + new)

    run = apply_retention()

    assert present(old + new) == set(new)
    assert not StatementAgent.objects.filter(statement_id__in=old).exists()
    assert not StatementActivity.objects.filter(statement_id__in=old).exists()
    assert not Delivery.objects.filter(statement_id__in=old).exists()
    assert not Attempt.objects.filter(delivery__statement_id__in=old).exists()
    assert StatementAgent.objects.filter(statement_id__in=new).count() == 2
    assert StatementActivity.objects.filter(statement_id__in=new).count() == 2
    assert Delivery.objects.filter(statement_id__in=new).count() == 2
    assert (
        run.counts["statements_deleted"],
        run.counts["deliveries_deleted"],
        run.counts["attempts_deleted"],
    ) == (
        3,
        3,
        3,
    )
    assert (run.counts["agent_index_rows"], run.counts["activity_index_rows"]) == (3, 3)


@pytest.mark.parametrize(
    "status", [Delivery.PENDING, Delivery.RETRYING, Delivery.IN_FLIGHT, Delivery.HELD, Delivery.UNKNOWN]
)
def test_a_statement_with_an_open_delivery_is_kept_and_counted_until_the_delivery_settles(target, status):
    [kept], [settled] = store(1, days_ago=40), store(1, days_ago=40)
    deliver(target, [kept], status=status)
    deliver(target, [settled], status=Delivery.DEAD)

    first = apply_retention()
    assert present([kept, settled]) == {kept}
    assert (first.counts["statements_deleted"], first.counts["statements_kept_open"]) == (1, 1)
    assert Delivery.objects.filter(statement_id=kept, status=status).exists()

    Delivery.objects.filter(statement_id=kept).update(status=Delivery.DELIVERED)
    second = apply_retention()
    assert present([kept]) == set()
    assert (second.counts["statements_deleted"], second.counts["statements_kept_open"]) == (1, 0)


def test_a_statement_in_an_outbox_batch_not_yet_expanded_is_kept():
    pks = store(3, days_ago=40)
    OutboxBatch.objects.create(
        id=pks[1], statement_pks=[pks[1]], last_statement_pk=pks[1], target_ids=[], created_at=timezone.now()
    )
    preview = retention_preview()["counts"]
    run = apply_retention()
    assert present(pks) == {pks[1]}
    assert run.counts["statements_kept_open"] == 1
    # The dry run counts it as the run does.
    assert (preview["statements_deleted"], preview["statements_kept_open"]) == (2, 1)


def test_a_voiding_statement_stays_while_the_statement_it_voids_is_kept():
    """The voided statement arrived after its voiding statement (an LMS replaying its queue), so
    it is newer. An LRS considers a statement voided if and only if it holds a voiding statement
    referring to it (Data 2.3.2): deleting the voiding statement first would leave it voided by
    nothing. The voiding statement stays until its target goes, without its people or anything
    beyond what voids."""
    target_id = str(uuid.uuid4())
    [voiding] = store(
        1,
        days_ago=40,
        verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
        object={"objectType": "StatementRef", "id": target_id},
        result={"response": "entered twice, ada@example.com"},
    )
    [voided] = store(1, days_ago=10, id=target_id)
    [older] = store(1, days_ago=40)
    preview = retention_preview()["counts"]
    assert (preview["statements_deleted"], preview["statements_kept_voiding"]) == (1, 1)

    first = apply_retention()
    assert present([voiding, voided, older]) == {voiding, voided}
    assert Statement.objects.get(id=voided).voided
    assert (first.counts["statements_deleted"], first.counts["statements_kept_voiding"]) == (1, 1)
    kept = json.loads(Statement.objects.get(id=voiding).payload)
    assert "result" not in kept and "ada@example.com" not in json.dumps(kept)
    assert kept["actor"] == {"objectType": "Agent", "account": retention_pseudonym(agent_ifi(ADA))}
    assert apply_retention().counts["statements_kept_voiding"] == 1  # the next night: no change

    Statement.objects.filter(id=voided).update(stored=timezone.now() - timedelta(days=40))
    second = apply_retention()
    assert present([voiding, voided]) == set()
    assert (second.counts["statements_deleted"], second.counts["statements_kept_voiding"]) == (2, 0)


def voiding(target_id: str, days_ago: int, **parts) -> int:
    [pk] = store(
        1,
        days_ago=days_ago,
        **parts,
        verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
        object={"objectType": "StatementRef", "id": target_id},
    )
    return pk


def preview_and_run() -> tuple[dict[str, int], dict[str, int]]:
    return retention_preview()["counts"], apply_retention().counts


def test_a_voiding_statement_kept_for_a_target_a_later_batch_deletes_goes_in_the_same_run(policy):
    policy.LRS_RETENTION_BATCH_SIZE = 1
    target_id = str(uuid.uuid4())
    first = voiding(target_id, days_ago=40)
    [voided] = store(1, days_ago=39, id=target_id)  # after its voiding statement: voided on arrival
    preview, run = preview_and_run()
    assert present([first, voided]) == set()
    assert (run["statements_deleted"], run["statements_kept_voiding"]) == (2, 0)
    assert (preview["statements_deleted"], preview["statements_kept_voiding"]) == (2, 0)


def test_a_voiding_statement_stays_while_its_target_is_kept_for_an_open_delivery(target):
    [voided] = store(1, days_ago=41)
    kept = voiding(str(Statement.objects.get(id=voided).statement_id), days_ago=40)
    deliver(target, [voided], status=Delivery.IN_FLIGHT)  # its retraction, say
    preview, run = preview_and_run()
    assert present([voided, kept]) == {voided, kept}
    assert Statement.objects.get(id=voided).voided
    names = ("statements_deleted", "statements_kept_open", "statements_kept_voiding")
    assert [run[name] for name in names] == [preview[name] for name in names] == [0, 1, 1]


def test_a_voiding_statement_naming_another_voiding_statement_holds_nothing_and_goes():
    first_id = str(uuid.uuid4())
    named = voiding(first_id, days_ago=40)  # names a statement not stored yet
    first = voiding(str(uuid.uuid4()), days_ago=10, id=first_id)  # a voiding statement: never voided
    assert not Statement.objects.get(id=first).voided
    preview, run = preview_and_run()
    assert present([first, named]) == {first}
    assert (run["statements_deleted"], run["statements_kept_voiding"]) == (1, 0)
    assert (preview["statements_deleted"], preview["statements_kept_voiding"]) == (1, 0)


def test_attempt_bodies_are_emptied_after_their_own_cutoff_and_the_attempts_stay(settings, target):
    settings.LRS_RETENTION_DAYS = 0  # statements kept forever: only the bodies age out
    settings.LRS_ATTEMPT_BODY_RETENTION_DAYS = 7
    deliver(target, store(2), attempts_days_ago=8)
    deliver(target, store(1), attempts_days_ago=6)

    run = apply_retention()

    assert Attempt.objects.count() == 3
    pruned = Attempt.objects.filter(started_at__lt=timezone.now() - timedelta(days=7))
    assert list(pruned.values_list("error", "response_excerpt", "request")) == [("", "", "")] * 2
    assert list(pruned.values_list("outcome", "status_code")) == [(Attempt.SUCCESS, 200)] * 2
    recent = Attempt.objects.get(started_at__gte=timezone.now() - timedelta(days=7))
    assert recent.error and recent.response_excerpt and recent.request
    assert run.counts["attempt_bodies_pruned"] == 2
    assert run.cutoffs["statements"] is None
    assert Statement.objects.count() == 3


def test_a_second_run_changes_nothing_and_every_run_records_its_cutoffs_and_counts(target):
    deliver(target, store(4, days_ago=40), attempts_days_ago=40)
    deliver(target, store(1))

    first = apply_retention()
    second = apply_retention()

    assert first.counts["statements_deleted"] == 4
    assert first.counts["attempt_bodies_pruned"] == 0  # their attempts went with the statements
    assert set(second.counts.values()) == {0}
    assert set(second.counts) == set(first.counts)
    recorded = RetentionRun.objects.get(pk=first.pk)
    assert recorded.counts == first.counts and recorded.error == "" and recorded.finished_at is not None
    assert recorded.mode == "delete"
    assert set(recorded.cutoffs) == {"statements", "documents", "attempt_bodies"}
    assert recorded.cutoffs["documents"] is None
    age = recorded.started_at - datetime.fromisoformat(recorded.cutoffs["statements"])
    assert timedelta(days=30) - timedelta(minutes=1) < age < timedelta(days=30) + timedelta(minutes=1)
    assert Statement.objects.count() == 1


class CountedTransactions:
    """``django.db.transaction`` as the retention module sees it, counting its atomic blocks."""

    def __init__(self) -> None:
        self.blocks = 0

    def atomic(self, *args, **kwargs):
        self.blocks += 1
        return transaction.atomic(*args, **kwargs)


def test_work_goes_in_bounded_batches_one_transaction_each(settings, target, monkeypatch):
    settings.LRS_RETENTION_BATCH_SIZE = 10
    deliver(target, store(35, days_ago=40))
    deliver(target, store(25), attempts_days_ago=40)
    sizes: dict[str, list[int]] = {"statements": [], "attempts": []}
    real_delete, real_prune = retention.delete_batch, retention.attempt_bodies_batch

    def delete_batch(pks, **kept):
        sizes["statements"].append(len(pks))
        return real_delete(pks, **kept)

    def attempt_bodies_batch(ids):
        sizes["attempts"].append(len(ids))
        return real_prune(ids)

    counted = CountedTransactions()
    monkeypatch.setattr(retention, "delete_batch", delete_batch)
    monkeypatch.setattr(retention, "attempt_bodies_batch", attempt_bodies_batch)
    monkeypatch.setattr(retention, "transaction", counted)

    run = apply_retention()

    assert sizes == {"statements": [10, 10, 10, 5], "attempts": [10, 10, 5]}
    assert counted.blocks == 4 + 3  # one transaction per batch, none around the whole run
    assert run.counts["statements_deleted"] == 35 and run.counts["attempt_bodies_pruned"] == 25


def test_a_failing_run_records_its_error_and_what_it_did_before(settings, monkeypatch):
    settings.LRS_RETENTION_BATCH_SIZE = 2
    store(3, days_ago=40)
    real_delete = retention.delete_batch
    calls = []

    def fails_second_time(pks, **kept):
        calls.append(pks)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_delete(pks, **kept)

    monkeypatch.setattr(retention, "delete_batch", fails_second_time)
    with pytest.raises(RuntimeError):
        apply_retention()
    run = RetentionRun.objects.get()
    assert run.error == "RuntimeError: database went away" and run.finished_at is not None
    assert run.counts["statements_deleted"] == 2
    assert Statement.objects.count() == 1


def attachment(data: bytes) -> tuple[dict, AttachmentPart]:
    sha2 = hashlib.sha256(data).hexdigest()
    described = {
        "usageType": "http://example.com/usage/certificate",
        "display": {"en-US": "certificate"},
        "contentType": "text/plain",
        "length": len(data),
        "sha2": sha2,
    }
    return described, AttachmentPart(sha2=sha2, content_type="text/plain", data=data)


def test_attachment_bytes_go_only_when_no_remaining_statement_references_them():
    shared, shared_part = attachment(b"shared certificate")
    own, own_part = attachment(b"only the old statement's")
    store(1, days_ago=40, attachments=[shared, own], _parts=[shared_part, own_part])
    store(1, attachments=[shared], _parts=[shared_part])

    run = apply_retention()

    assert set(AttachmentContent.objects.values_list("sha2", flat=True)) == {shared["sha2"]}
    assert run.counts["attachments_deleted"] == 1


def test_old_documents_of_people_go_and_activity_profiles_stay(settings):
    settings.LRS_DOCUMENT_RETENTION_DAYS = 90
    old, recent = timezone.now() - timedelta(days=91), timezone.now() - timedelta(days=89)
    documents = {
        (kind, when): Document.objects.create(
            kind=kind,
            activity_id="" if kind == "agentProfile" else "https://lms.example.com/c",
            agent_ifi="" if kind == "activityProfile" else agent_ifi(ADA),
            document_id=f"{kind}-{when.date()}",
            content=b"{}",
            content_type="application/json",
            etag='"' + "0" * 40 + '"',
            updated=when,
        ).pk
        for kind in ("state", "agentProfile", "activityProfile")
        for when in (old, recent)
    }
    run = apply_retention()
    left = set(Document.objects.values_list("pk", flat=True))
    assert left == {
        pk for (kind, when), pk in documents.items() if when == recent or kind == "activityProfile"
    }
    assert run.counts["documents_deleted"] == 2


def test_pseudonymise_mode_replaces_every_person_in_old_statements_once(settings, target):
    settings.LRS_RETENTION_MODE = "pseudonymise"
    [old] = store(1, days_ago=40, context={"instructor": BOB})
    [new] = store(1)
    deliver(target, [old, new])

    first = apply_retention()
    second = apply_retention()

    payload = json.loads(Statement.objects.get(id=old).payload)
    # An erasure's keyed name, on retention's own homePage: not taken for an erased person.
    assert payload["actor"] == {"objectType": "Agent", "account": retention_pseudonym(agent_ifi(ADA))}
    assert payload["actor"]["account"]["name"] == pseudonym(agent_ifi(ADA))["name"]
    assert payload["actor"]["account"]["homePage"] == f"{settings.LRS_PSEUDONYM_HOMEPAGE}/retention"
    assert payload["context"]["instructor"] == {
        "objectType": "Agent",
        "account": retention_pseudonym(agent_ifi(BOB)),
    }
    assert not StatementAgent.objects.filter(agent_ifi__in=[agent_ifi(ADA), agent_ifi(BOB)], statement_id=old)
    assert json.loads(Statement.objects.get(id=new).payload)["actor"] == ADA
    assert Delivery.objects.filter(statement_id=old).exists()  # records of a kept statement stay
    assert first.counts["statements_pseudonymised"] == 1
    assert second.counts["statements_pseudonymised"] == 0
    assert second.cutoffs["statements_resume_from"] >= first.cutoffs["statements_resume_from"]


def test_by_default_statements_and_documents_are_kept_forever(settings):
    for name in (
        "LRS_RETENTION_DAYS",
        "LRS_DOCUMENT_RETENTION_DAYS",
        "LRS_RETENTION_MODE",
        "LRS_ATTEMPT_BODY_RETENTION_DAYS",
    ):
        setattr(
            settings, name, getattr(project_settings, name)
        )  # as config/settings.py reads an empty environment
    assert Policy.from_settings() == Policy(
        statement_days=0, mode="delete", document_days=0, attempt_body_days=30
    )
    store(2, days_ago=3650)
    run = apply_retention()
    assert Statement.objects.count() == 2
    assert run.cutoffs["statements"] is None and run.cutoffs["documents"] is None
    assert run.cutoffs["attempt_bodies"] is not None


def test_the_nightly_beat_schedule_runs_the_registered_retention_task():
    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == RETENTION_TASK]
    assert len(entries) == 1 and isinstance(entries[0]["schedule"], crontab)
    assert RETENTION_TASK in celery_app.tasks


def test_the_task_applies_the_policy_and_returns_its_run(target):
    store(2, days_ago=40)
    run_id = celery_app.tasks[RETENTION_TASK].apply().get()
    assert RetentionRun.objects.get(pk=run_id).counts["statements_deleted"] == 2


def test_the_command_dry_run_counts_what_would_go_and_changes_nothing(target):
    deliver(target, store(3, days_ago=40), status=Delivery.PENDING)
    store(2, days_ago=40)
    out = io.StringIO()
    call_command("apply_retention", "--dry-run", "--json", stdout=out)
    preview = json.loads(out.getvalue())
    assert preview["counts"] == {
        "statements_deleted": 2,
        "statements_kept_open": 3,
        "statements_kept_voiding": 0,
        "statements_kept_for_dead_retractions": 0,
        "attempt_bodies_pruned": 0,
    }
    assert Statement.objects.count() == 5 and not RetentionRun.objects.exists()

    out = io.StringIO()
    call_command("apply_retention", stdout=out)
    assert "statements_deleted 2" in out.getvalue() and "statements_kept_open 3" in out.getvalue()
    assert Statement.objects.count() == 3
