"""Erasing a person: for every place a person can appear in a statement, in both modes, no trace
is left that any xAPI query, the admin search or the index tables could reach; another learner's
statement naming the person keeps everything but them; a repeat changes nothing; erasure and a
concurrent ingest about the same person finish without a deadlock."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from adapters.base import DeliveryContext, ErasureNotice
from adapters.delivery import drain
from adapters.identity.resolution import _email_key, email_lookup_key
from adapters.models import ErasureRequest, Target
from adapters.privacy.erasure import erase_subject, pseudonym
from adapters.privacy.subjects import subject_for
from adapters.rules.pseudonyms import pseudonym as rules_pseudonym
from adapters.webhook.adapter import WebhookAdapter
from lrs.documents.models import Document
from lrs.statements import erasure
from lrs.statements.models import ErasureMark, Statement, StatementAgent
from lrs.xapi.agents import agent_ifi
from tests.conftest import make_statement
from tests.lrs.statements.test_forgetting import remembered

pytestmark = pytest.mark.django_db

PERSON = {"objectType": "Agent", "name": "Pat Person", "mbox": "mailto:pat.person@example.com"}
OTHER = {"objectType": "Agent", "name": "Lee Other", "mbox": "mailto:lee.other@example.com"}
OTHER_VOIDER = {"objectType": "Agent", "name": "Sam Admin", "mbox": "mailto:sam.admin@example.com"}
TRACES = ("pat.person@example.com", "Pat Person")


def statement(**parts) -> dict:
    base = make_statement(actor_email="lee.other@example.com", statement_id=str(uuid.uuid4()))
    base["actor"] = OTHER
    base.update(parts)
    return base


def placements() -> dict[str, dict]:
    """One statement per place the person can be named in."""
    return {
        "actor": statement(actor=PERSON),
        "object": statement(object=PERSON, verb={"id": "http://adlnet.gov/expapi/verbs/interacted"}),
        "group member": statement(actor={"objectType": "Group", "member": [PERSON, OTHER]}),
        "instructor": statement(context={"instructor": PERSON}),
        "team": statement(context={"team": {"objectType": "Group", "member": [PERSON]}}),
        "sub-statement": statement(
            object={
                "objectType": "SubStatement",
                "actor": PERSON,
                "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
                "object": {"id": "http://example.com/a"},
            }
        ),
    }


def every_statement_text(xapi) -> str:
    """Everything GET /statements serves, page by page, with the voided ones by id too."""
    texts, response = [], xapi.get_statements(limit=100)
    while True:
        body = response.json()
        texts.append(json.dumps(body))
        if not body.get("more"):
            break
        response = xapi.get(body["more"])
    for statement_id in Statement.objects.filter(voided=True).values_list("statement_id", flat=True):
        texts.append(xapi.get_statements(voidedStatementId=str(statement_id)).content.decode())
    return "\n".join(texts)


def assert_no_trace(xapi, client) -> None:
    ifi = agent_ifi(PERSON)
    for related in ("false", "true"):
        found = xapi.get_statements(agent=json.dumps(PERSON), related_agents=related).json()["statements"]
        assert found == []
    text = every_statement_text(xapi)
    assert not [trace for trace in TRACES if trace in text]
    person = xapi.get("/xapi/agents", {"agent": json.dumps({"mbox": PERSON["mbox"]})}).json()
    assert "name" not in person or person["name"] == []
    assert not StatementAgent.objects.filter(agent_ifi=ifi).exists()
    assert not [trace for trace in TRACES if Statement.objects.filter(payload__contains=trace).exists()]
    assert not Document.objects.filter(agent_ifi=ifi).exists()
    state = xapi.get(
        "/xapi/activities/state",
        {"activityId": "http://example.com/a", "agent": json.dumps(PERSON), "stateId": "bookmark"},
    )
    assert state.status_code == 404
    client.force_login(get_user_model().objects.create_superuser("dpo", "dpo@example.com", "pw-for-tests"))
    pages = [client.get("/admin/lrs/statement/").content.decode()]
    pages += [
        client.get(f"/admin/lrs/statement/{pk}/change/").content.decode()
        for pk in Statement.objects.values_list("pk", flat=True)
    ]
    assert not [trace for page in pages for trace in TRACES if trace in page]


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_erasure_leaves_no_trace_of_the_person_anywhere_and_keeps_others_statements(xapi, client, mode):
    stored = placements()
    assert xapi.post_statements(list(stored.values())).status_code == 200
    mine = stored["actor"]["id"]
    assert (
        xapi.put_json(
            "/xapi/activities/state",
            {"page": 7},
            query="?activityId=http://example.com/a&stateId=bookmark&agent=" + json.dumps(PERSON),
        ).status_code
        == 204
    )
    outcome = erase_subject(subject_for(agent=PERSON), mode=mode, requested_by="test")
    assert outcome.request.counts["own_statements"] == 1
    assert outcome.request.counts["other_statements"] == 5
    assert outcome.request.counts["documents"] == 1

    assert_no_trace(xapi, client)
    # Another learner's statements stay, everything but the person in them.
    for place, original in stored.items():
        if place == "actor":
            continue
        kept = xapi.get_statements(statementId=original["id"])
        assert kept.status_code == 200, place
        assert kept.json()["actor"] == original["actor"] or place == "group member"
    own = xapi.get_statements(statementId=mine)
    if mode == "delete":
        assert own.status_code == 404
        assert not Statement.objects.filter(statement_id=mine).exists()
    else:
        # Kept under a stable pseudonym, which finds it.
        account = pseudonym(agent_ifi(PERSON))
        assert own.json()["actor"] == {"objectType": "Agent", "account": account}
        found = xapi.get_statements(agent=json.dumps({"account": account})).json()["statements"]
        assert mine in [item["id"] for item in found]


def test_after_an_erasure_no_process_memory_holds_the_persons_address(
    xapi, django_capture_on_commit_callbacks
):
    """Validation's memory of accepted values, the fan-out's e-mail keys and pseudonyms
    (lrs.statements.erasure: ``people_erased``); the other processes forget at their next look."""
    xapi.post_statements([statement(actor=PERSON)])
    email_lookup_key(PERSON["mbox"])  # as the drain resolves the learner
    rules_pseudonym(b"target key", agent_ifi(PERSON))  # as a pseudonymising target names them
    assert _email_key.cache_info().currsize and rules_pseudonym.cache_info().currsize

    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(agent=PERSON), mode="pseudonymise", requested_by="test")

    assert _email_key.cache_info().currsize == 0 and rules_pseudonym.cache_info().currsize == 0
    assert not remembered(PERSON["mbox"])
    assert ErasureMark.objects.exists()  # what tells the other processes


def test_a_worker_draining_after_an_erasure_elsewhere_forgets_the_learners_it_remembered(monkeypatch):
    email_lookup_key(PERSON["mbox"])
    assert _email_key.cache_info().currsize
    ErasureMark.objects.create()  # an erasure another process committed
    monkeypatch.setattr(erasure, "_next_check", 0.0)
    drain._one_batch(
        Target.objects.create(name="quiet", adapter="webhook", config={"url": "https://h.example"})
    )
    assert _email_key.cache_info().currsize == 0


def test_an_erasure_notice_names_the_person_by_pseudonym_without_remembering_them():
    hook = WebhookAdapter({"url": "https://hooks.example.com/lrs", "pseudonymise": True}, {"secret": "k"})
    erased_at = "2026-12-06T00:00:00Z"
    notice = ErasureNotice("erasure-1", "hook", employee_id="E-erased", pseudonyms=(), erased_at=erased_at)
    rules_pseudonym.cache_clear()
    [request] = hook.erasure_requests(notice)
    assert rules_pseudonym.cache_info().currsize == 0
    context = DeliveryContext(target_name="hook", kind="erasure", idempotency_key="erasure-1")
    assert json.loads(request.body)["actor"] == {"pseudonym": hook.pseudonym("E-erased", context)}


def test_an_instructor_is_pseudonymised_in_the_learners_statement_which_stays(xapi):
    lesson = statement(context={"instructor": PERSON})
    xapi.post_statements(lesson)
    erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")
    kept = xapi.get_statements(statementId=lesson["id"]).json()
    assert kept["actor"] == OTHER
    assert kept["context"]["instructor"] == {"objectType": "Agent", "account": pseudonym(agent_ifi(PERSON))}


def test_a_repeat_request_is_a_no_op_reporting_the_same_counts(xapi):
    xapi.post_statements([statement(actor=PERSON), statement(context={"instructor": PERSON})])
    first = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")
    again = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")
    assert again.repeated and again.request.pk == first.request.pk
    assert again.request.counts == first.request.counts
    assert ErasureRequest.objects.count() == 1


def test_a_repeat_request_after_a_secret_key_rotation_is_still_a_repeat(xapi, settings):
    """The request is known by a keyed hash of whom it named (``Subject.fingerprint``), keyed from
    ``SECRET_KEY``: rotated the Django way (the old one in ``SECRET_KEY_FALLBACKS``), a repeat of an
    erasure made before is recognised still, by agent and by an employee id no longer linked."""
    from adapters.identity.links import Identifiers, identity_links_upsert

    identity_links_upsert(employee_id="E77", identifiers=Identifiers(emails=["pat.person@example.com"]))
    xapi.post_statements(statement(actor=PERSON))
    by_agent = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")
    identity_links_upsert(employee_id="E78", identifiers=Identifiers(emails=["sam.other@example.com"]))
    by_employee = erase_subject(subject_for(employee_id="E78"), mode="delete", requested_by="test")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "y" * 40

    again = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")
    assert again.repeated and again.request.pk == by_agent.request.pk
    again = erase_subject(subject_for(employee_id="E78"), mode="delete", requested_by="test")
    assert again.repeated and again.request.pk == by_employee.request.pk
    assert ErasureRequest.objects.count() == 2


def test_a_dry_run_reports_and_erases_nothing(xapi):
    xapi.post_statements([statement(actor=PERSON), statement(context={"instructor": PERSON})])
    out = __import__("io").StringIO()
    call_command("erase_actor", "--agent", json.dumps(PERSON), "--dry-run", "--json", stdout=out)
    plan = json.loads(out.getvalue())
    assert (plan["own_statements"], plan["other_statements"]) == (1, 1)
    assert Statement.objects.filter(payload__contains="pat.person@example.com").count() == 2
    assert not ErasureRequest.objects.exists()


def test_the_command_erases_by_employee_id_and_refuses_an_unknown_person(xapi):
    from adapters.identity.links import Identifiers, identity_links_upsert

    identity_links_upsert(employee_id="E77", identifiers=Identifiers(emails=["pat.person@example.com"]))
    xapi.post_statements(statement(actor=PERSON))
    out = __import__("io").StringIO()
    call_command("erase_actor", "--employee-id", "E77", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["counts"]["identity_links"] == 1 and result["status"] == "done"
    assert not Statement.objects.filter(payload__contains="pat.person").exists()
    again = __import__("io").StringIO()
    call_command("erase_actor", "--employee-id", "E77", "--json", stdout=again)  # all gone: a repeat
    assert json.loads(again.getvalue())["repeated"] is True
    with pytest.raises(CommandError, match="no identifier is linked"):
        call_command("erase_actor", "--employee-id", "E404")


@pytest.mark.django_db(transaction=True)
def test_erasure_and_a_concurrent_ingest_about_the_same_person_do_not_deadlock(make_credential):
    from tests.conftest import XAPIClient

    credential, secret = make_credential("lms", ["all"])
    xapi = XAPIClient(credential, secret)
    xapi.post_statements([statement(actor=PERSON) for _ in range(300)])
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            client = XAPIClient(credential, secret)
            for _ in range(20):
                assert client.post_statements(statement(actor=PERSON)).status_code == 200
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=ingest)
    thread.start()
    erase_subject(subject_for(agent=PERSON), mode="pseudonymise", requested_by="test")
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_a_more_link_issued_before_the_erasure_does_not_leak_the_person(xapi, mode):
    xapi.post_statements(
        [statement(actor=PERSON) for _ in range(3)] + [statement(context={"instructor": PERSON})]
    )
    first = xapi.get_statements(limit=1, agent=json.dumps({"mbox": PERSON["mbox"]})).json()
    assert first["more"]
    unfiltered = xapi.get_statements(limit=1).json()
    erase_subject(subject_for(agent=PERSON), mode=mode, requested_by="test")
    for more in (first["more"], unfiltered["more"]):
        text, url = "", more
        while url:
            body = xapi.get(url).json()
            text += json.dumps(body)
            url = body.get("more")
        assert not [trace for trace in TRACES if trace in text]


def test_a_voiding_statement_by_the_person_stays_pseudonymised_so_anothers_statement_stays_voided(xapi):
    """An instructor voided a learner's statement, then the instructor is erased. An LRS considers
    a statement voided if and only if it holds a voiding statement referring to it (Data 2.3.2):
    deleting the voiding statement would leave the learner's statement voided by nothing (or,
    made live again, served and sent on). So the voiding statement stays, without the person."""
    lesson = statement()
    voiding = statement(
        actor=PERSON,
        verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
        object={"objectType": "StatementRef", "id": lesson["id"]},
        # Free text naming them, which pseudonymising agents would not reach: it goes with the rest.
        result={"response": "entered in error by Pat Person"},
        context={
            "registration": str(uuid.uuid4()),
            "instructor": OTHER,
            "contextActivities": {"parent": [{"id": "http://example.com/course"}]},
            "extensions": {"http://example.com/by": "pat.person@example.com"},
        },
    )
    own = statement(actor=PERSON)
    assert xapi.post_statements([lesson, voiding, own]).status_code == 200
    plan = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test", dry_run=True)
    assert plan.as_dict()["own_voiding_statements_kept_in_delete_mode"] == 1

    outcome = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")

    assert xapi.get_statements(statementId=lesson["id"]).status_code == 404
    assert xapi.get_statements(voidedStatementId=lesson["id"]).json()["id"] == lesson["id"]
    kept = xapi.get_statements(statementId=voiding["id"]).json()
    assert kept["actor"] == {"objectType": "Agent", "account": pseudonym(agent_ifi(PERSON))}
    assert (kept["verb"], kept["object"]) == (voiding["verb"], voiding["object"])
    assert "result" not in kept and "context" not in kept
    row = Statement.objects.get(statement_id=voiding["id"])
    assert row.registration is None and not row.activities.exists()
    assert set(row.agents.values_list("agent_ifi", flat=True)) == {
        agent_ifi({"account": pseudonym(agent_ifi(PERSON))}),
        row.authority_ifi,
    }
    assert not Statement.objects.filter(statement_id=own["id"]).exists()
    assert outcome.request.counts["statements_deleted"] == 1
    assert outcome.request.counts["voiding_statements_kept"] == 1
    assert_no_trace_in_statements()


def test_two_peoples_voiding_statements_of_one_statement_both_stay_through_both_erasures(xapi):
    """Each erasure keeps its person's voiding statement: had the first deleted its own because the
    other's held the statement voided, the second would find the first's gone and delete its own
    too (or each, running at once, would count on the other)."""
    lesson = statement()
    voided = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    reference = {"objectType": "StatementRef", "id": lesson["id"]}
    theirs = statement(actor=PERSON, verb=voided, object=reference)
    others = statement(actor=OTHER_VOIDER, verb=voided, object=reference)
    assert xapi.post_statements([lesson, theirs, others]).status_code == 200

    first = erase_subject(subject_for(agent=PERSON), mode="delete", requested_by="test")
    second = erase_subject(subject_for(agent=OTHER_VOIDER), mode="delete", requested_by="test")

    assert Statement.objects.filter(statement_id__in=[theirs["id"], others["id"]]).count() == 2
    assert xapi.get_statements(statementId=lesson["id"]).status_code == 404
    assert xapi.get_statements(voidedStatementId=lesson["id"]).status_code == 200
    assert (
        first.request.counts["voiding_statements_kept"]
        == second.request.counts["voiding_statements_kept"]
        == 1
    )


def assert_no_trace_in_statements() -> None:
    assert not StatementAgent.objects.filter(agent_ifi=agent_ifi(PERSON)).exists()
    assert not [trace for trace in TRACES if Statement.objects.filter(payload__contains=trace).exists()]


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_an_erasure_by_mbox_reaches_the_statements_filed_under_its_sha1sum(xapi, mode):
    """The mbox_sha1sum of the same mailto IRI names the same mailbox (Data 2.4.2.3): an erasure
    naming the mbox leaves no statement the person made under its hashed form."""
    digest = hashlib.sha1(PERSON["mbox"].encode()).hexdigest()
    hashed = statement(actor={"objectType": "Agent", "name": "Pat Person", "mbox_sha1sum": digest})
    xapi.post_statements([hashed, statement(actor=PERSON)])

    outcome = erase_subject(subject_for(agent=PERSON), mode=mode, requested_by="test")

    assert outcome.request.counts["own_statements"] == 2
    assert not StatementAgent.objects.filter(agent_ifi=f"mbox_sha1sum::{digest}").exists()
    assert not any(
        trace in payload
        for payload in Statement.objects.values_list("payload", flat=True)
        for trace in TRACES
    )
