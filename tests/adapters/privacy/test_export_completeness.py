"""Subject access export against the README's promises ("Privacy", "Export"): complete (every
statement naming the person in any role, under any of their identifiers, documents, deliveries,
identity records), and nothing of anyone else beyond what the person's own records name; an erasure
leaves nothing naming the person to export, and another person's export as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import zipfile
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.identity.links import (
    Identifiers,
    identity_links_move,
    identity_links_remove,
    identity_links_upsert,
)
from adapters.identity.resolution import email_lookup_key
from adapters.models import Delivery, Employee, IdentityLink, SkillEvidence, SkillRecord, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.export import SubjectExport, subject_is_known
from adapters.privacy.subjects import SubjectError, subject_for
from lrs.documents.models import Document
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from lrs.xapi.agents import agent_ifi
from lrs.xapi.multipart import AttachmentPart
from tests.conftest import make_statement

# Examples per property; LRS_EXPORT_COMPLETENESS_EXAMPLES raises them (a longer run) or lowers them.
EXAMPLES = int(os.environ.get("LRS_EXPORT_COMPLETENESS_EXAMPLES", "25"))

pytestmark = pytest.mark.django_db

HOME = "https://lms.example.com"
ROLES = (
    "actor",
    "group_actor_member",
    "object_agent",
    "object_group_member",
    "instructor",
    "team_member",
    "authority",
    "substatement_actor",
    "substatement_instructor",
    "context_agent",
    "context_group_member",
)
FORMS = ("mbox", "mbox_upper_domain", "mbox_sha1sum", "account", "openid")


def person(tag: str) -> dict[str, Any]:
    """A person's identifiers, each of them linked to employee ``tag``."""
    email = f"{tag.lower()}@example.com"
    identity_links_upsert(
        employee_id=tag,
        identifiers=Identifiers(
            emails=[email],
            accounts=[{"homePage": HOME, "name": tag.lower()}],
            openids=[f"https://id.example.com/{tag.lower()}"],
        ),
        source="admin",
    )
    return {
        "mbox": {"objectType": "Agent", "name": tag, "mbox": f"mailto:{email}"},
        "mbox_upper_domain": {"objectType": "Agent", "mbox": f"mailto:{email.replace('example', 'EXAMPLE')}"},
        "mbox_sha1sum": {"mbox_sha1sum": hashlib.sha1(f"mailto:{email}".encode()).hexdigest()},
        "account": {"objectType": "Agent", "account": {"homePage": HOME, "name": tag.lower()}},
        "openid": {"objectType": "Agent", "openid": f"https://id.example.com/{tag.lower()}"},
    }


OTHER = {"objectType": "Agent", "name": "Someone Else", "mbox": "mailto:someone.else@example.com"}


def naming(agent: dict[str, Any], role: str) -> tuple[dict[str, Any], str]:
    """A statement naming ``agent`` in ``role`` (everyone else in it is OTHER), and its version."""
    body = make_statement(statement_id=str(uuid.uuid4()))
    body["actor"] = OTHER
    group = {"objectType": "Group", "member": [OTHER, agent]}
    version = "1.0.3"
    if role == "actor":
        body["actor"] = agent
    elif role == "group_actor_member":
        body["actor"] = group
    elif role == "object_agent":
        body["object"] = {"objectType": "Agent", **agent}
    elif role == "object_group_member":
        body["object"] = group
    elif role == "instructor":
        body["context"] = {"instructor": agent}
    elif role == "team_member":
        body["context"] = {"team": group}
    elif role == "authority":
        body["authority"] = {"objectType": "Agent", **agent}
    elif role.startswith("substatement_"):
        inner = make_statement()
        inner["actor"] = OTHER
        if role == "substatement_actor":
            inner["actor"] = agent
        else:
            inner["context"] = {"instructor": agent}
        body["object"] = {"objectType": "SubStatement", **inner}
    elif role == "context_agent":
        body["context"] = {"contextAgents": [{"objectType": "contextAgent", "agent": agent}]}
        version = "2.0.0"
    elif role == "context_group_member":
        body["context"] = {"contextGroups": [{"objectType": "contextGroup", "group": group}]}
        version = "2.0.0"
    return body, version


def export(subject) -> dict[str, bytes]:
    data = b"".join(SubjectExport(subject).chunks())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def ids(data: bytes) -> set[str]:
    return {json.loads(line)["id"] for line in data.decode().splitlines()}


_RUN = iter(range(10**6))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    placed=st.lists(
        st.tuples(st.sampled_from(ROLES), st.sampled_from(FORMS), st.booleans()), min_size=1, max_size=6
    )
)
def test_an_employee_export_holds_every_statement_naming_them_in_any_role_under_any_identifier(placed):
    """Each example: a fresh person (an employee with an e-mail, an account, an OpenID), statements
    naming them in a role under one identifier form, some voided; and statements of the other
    person and an unlinked stranger. The export by employee id holds exactly theirs, live and
    voided apart; an export of the other person holds none of theirs."""
    run = next(_RUN)
    forms = person(f"P{run}")
    other = person(f"Q{run}")
    stranger = {"objectType": "Agent", "mbox": f"mailto:stranger{run}@example.com"}
    live: set[str] = set()
    voided: set[str] = set()
    for role, form, void in placed:
        body, version = naming(forms[form], role)
        statement_store(statements=[body], credential=None, version=version)
        (voided if void else live).add(body["id"])
        if void:
            voiding = make_statement(
                statement_id=str(uuid.uuid4()),
                verb="http://adlnet.gov/expapi/verbs/voided",
                object={"objectType": "StatementRef", "id": body["id"]},
            )
            voiding["actor"] = OTHER
            statement_store(statements=[voiding], credential=None)
    theirs: set[str] = set()
    for role in ("actor", "instructor"):
        for agent in (other["mbox"], stranger):
            body, version = naming(agent, role)
            statement_store(statements=[body], credential=None, version=version)
            theirs.add(body["id"])

    files = export(subject_for(employee_id=f"P{run}"))
    assert ids(files["statements.jsonl"]) == live
    assert ids(files["voided_statements.jsonl"]) == voided
    counts = json.loads(files["manifest.json"])["counts"]
    assert (counts["statements"], counts["voided_statements"]) == (len(live), len(voided))

    others = export(subject_for(employee_id=f"Q{run}"))
    exported = ids(others["statements.jsonl"]) | ids(others["voided_statements.jsonl"])
    assert not exported & (live | voided)
    assert exported <= theirs


def test_a_targets_configuration_and_other_learners_deliveries_stay_out_of_an_export():
    ada = person("E1")["mbox"]
    bob = person("E2")["mbox"]
    target = Target.objects.create(
        name="pms", adapter="pms", config={"url": "https://pms.example.com", "token": "sekrit-token-123"}
    )
    mine, _ = naming(ada, "actor")
    his, _ = naming(bob, "actor")
    statement_store(statements=[mine, his], credential=None)
    for body, error in ((mine, "HTTP 503"), (his, "HTTP 400 bob@example.com unknown")):
        row = Statement.objects.get(statement_id=body["id"])
        Delivery.objects.create(
            target=target,
            statement=row,
            statement_uuid=row.statement_id,
            status=Delivery.DEAD,
            attempts=1,
            idempotency_key=f"key-{body['id']}",
            last_error=error,
            next_attempt_at=timezone.now(),
        )

    files = export(subject_for(employee_id="E1"))
    everything = b"".join(files.values()).decode("utf-8", "replace")
    assert "sekrit-token-123" not in everything and "pms.example.com" not in everything
    assert "e2@example.com" not in everything and "bob@example.com" not in everything
    assert his["id"] not in everything and f"key-{mine['id']}" not in everything
    [delivery] = [json.loads(line) for line in files["deliveries.jsonl"].decode().splitlines()]
    assert (delivery["statement"], delivery["last_error"]) == (mine["id"], "HTTP 503")


def test_nothing_is_known_of_a_person_the_export_cannot_name():
    with pytest.raises(SubjectError):
        subject_for(employee_id="E404")
    assert not subject_is_known(subject_for(agent={"mbox": "mailto:nobody@example.com"}))


def _lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_after_an_erasure_nothing_naming_the_person_is_exported_and_anothers_export_is_unchanged(mode):
    ada, bob = person("E1"), person("E2")
    own = [naming(ada[form], "actor")[0] for form in ("mbox", "account", "openid", "mbox_sha1sum")]
    taught, _ = naming(ada["account"], "instructor")
    taught["actor"] = bob["mbox"]
    bobs = [naming(bob["mbox"], "actor")[0], naming(bob["account"], "team_member")[0]]
    statement_store(statements=[*own, taught, *bobs], credential=None)
    Document.objects.create(
        kind="state",
        activity_id="https://lms.example.com/courses/safety-101",
        agent_ifi=agent_ifi(ada["mbox"]),
        document_id="bookmark",
        content=b'{"page": 7}',
        content_type="application/json",
        etag='"' + "0" * 40 + '"',
        updated=timezone.now(),
    )
    before = export(subject_for(employee_id="E2"))

    erase_subject(subject_for(employee_id="E1"), mode=mode, requested_by="test")
    finish_erasures()

    for subject in (
        subject_for(employee_id="E1"),
        *(subject_for(agent=ada[form]) for form in FORMS),
    ):
        assert not subject_is_known(subject)
        files = export(subject)
        assert ids(files["statements.jsonl"]) == ids(files["voided_statements.jsonl"]) == set()
        # The manifest says whom the export is about (the agent asked for); nothing else names them.
        everything = b"".join(data for name, data in files.items() if name != "manifest.json").decode()
        assert "e1@example.com" not in everything and '"name":"e1"' not in everything
    after = export(subject_for(employee_id="E2"))
    for part in ("voided_statements.jsonl", "deliveries.jsonl", "identity.json"):
        assert after[part] == before[part], part
    # Bob's statement Ada taught stays his, with Ada pseudonymised in it; the others as they were.
    changed = set(_lines(before["statements.jsonl"])) ^ set(_lines(after["statements.jsonl"]))
    assert {json.loads(line)["id"] for line in changed} == {taught["id"]}
    [kept] = [json.loads(line) for line in _lines(after["statements.jsonl"]) if taught["id"] in line]
    assert "e1" not in json.dumps(kept["context"]["instructor"])


def test_an_employees_marketplace_skill_records_and_evidence_are_in_their_export():
    """The LRS keeps, per employee, the skill records a marketplace holds and the evidence they rest
    on (adapters/models/skills.py): data about the person, which "everything the LRS holds about a
    person" includes. Another member's stay out."""
    ada, bob = person("E1"), person("E2")
    mine, _ = naming(ada["mbox"], "actor")
    his, _ = naming(bob["mbox"], "actor")
    statement_store(statements=[mine, his], credential=None)
    target = Target.objects.create(name="skills", adapter="marketplace", config={})
    for member, body, level in (("E1", mine, 3), ("E2", his, 1)):
        row = Statement.objects.get(statement_id=body["id"])
        SkillEvidence.objects.create(
            target=target,
            member_id=member,
            competency_code="SAFETY-BASICS",
            statement=row,
            statement_uuid=row.statement_id,
            activity_id="http://example.com/courses/safety-101",
            level=level,
            score=90.0,
            completed=True,
            timestamp=timezone.now(),
            mapping_version="v1",
        )
        SkillRecord.objects.create(
            target=target,
            member_id=member,
            competency_code="SAFETY-BASICS",
            record={"level": level, "evidence": [body["id"]]},
        )

    files = export(subject_for(employee_id="E1"))
    assert "skills.jsonl" in files, sorted(files)
    [record] = [json.loads(line) for line in _lines(files["skills.jsonl"])]
    assert (record["target"], record["competency"], record["record"]["level"]) == (
        "skills",
        "SAFETY-BASICS",
        3,
    )
    assert [evidence["statement"] for evidence in record["evidence"]] == [mine["id"]]
    assert his["id"] not in b"".join(files.values()).decode("utf-8", "replace")
    assert json.loads(files["manifest.json"])["counts"]["skill_records"] == 1


@pytest.mark.xfail(
    strict=True,
    reason="subject_for takes every identifier in an employee's links and history, whenever they "
    "held it: a recycled address (identity_links_move) brings the other holder's statements into "
    "both exports (and both erasures). Which statements are whose (by stored time against the "
    "move's time? by the employee resolution gave at delivery?) is a design decision.",
)
def test_a_recycled_address_brings_neither_holders_statements_into_the_others_export():
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["desk@example.com"]), source="admin"
    )
    desk = {"objectType": "Agent", "mbox": "mailto:desk@example.com"}
    before, _ = naming(desk, "actor")
    statement_store(statements=[before], credential=None)
    identity_links_move(
        identifiers=Identifiers(emails=["desk@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )
    after, _ = naming(desk, "actor")
    statement_store(statements=[after], credential=None)

    assert ids(export(subject_for(employee_id="E2"))["statements.jsonl"]) == {after["id"]}
    assert ids(export(subject_for(employee_id="E1"))["statements.jsonl"]) == {before["id"]}


def _document(agent: dict[str, Any], document_id: str, content: bytes) -> Document:
    return Document.objects.create(
        kind="state",
        activity_id="https://lms.example.com/courses/safety-101",
        agent_ifi=agent_ifi(agent),
        document_id=document_id,
        content=content,
        content_type="application/json",
        etag='"' + "0" * 40 + '"',
        updated=timezone.now(),
    )


@pytest.mark.parametrize("spelling", ["Ada.Lovelace@example.com", "ada.lovelace+lms@example.com"])
def test_a_document_under_another_spelling_of_the_employees_address_is_in_their_export(spelling):
    """Resolution maps the spelling to the employee (case, +alias), as it does for statements; the
    LMS kept a bookmark under it and never sent a statement with it."""
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["ada.lovelace@example.com"]), source="admin"
    )
    _document({"mbox": f"mailto:{spelling}"}, "bookmark", b'{"page": 7}')
    _document({"mbox": "mailto:grace@example.com"}, "bookmark", b'{"page": 1}')

    files = export(subject_for(employee_id="E1"))
    assert json.loads(files["manifest.json"])["counts"]["documents"] == 1
    assert [data for name, data in files.items() if name.endswith(".content.json")] == [b'{"page": 7}']


def test_an_erasure_deletes_a_document_under_another_spelling_of_the_employees_address():
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["ada.lovelace@example.com"]), source="admin"
    )
    _document({"mbox": "mailto:Ada.Lovelace+lms@example.com"}, "bookmark", b'{"page": 7}')
    _document({"mbox": "mailto:grace@example.com"}, "bookmark", b'{"page": 1}')

    erase_subject(subject_for(employee_id="E1"), mode="delete", requested_by="test")

    assert list(Document.objects.values_list("agent_ifi", flat=True)) == ["mbox::mailto:grace@example.com"]


@pytest.mark.parametrize(
    "agent",
    [
        # Two identifiers: an Agent has exactly one (Data 2.4.2.1); only the first was looked for.
        {"mbox": "mailto:ada@example.com", "account": {"homePage": HOME, "name": "ada"}},
        {"mbox": "ada@example.com"},  # no mailto: no statement can be filed under it
        {"objectType": "Group", "member": [{"mbox": "mailto:ada@example.com"}]},  # anonymous
    ],
)
def test_an_agent_a_statement_could_not_name_is_refused_rather_than_exported_or_erased_in_part(agent):
    """The command, the admin and the privacy API all take the person through ``subject_for``: an
    agent naming two identifiers was exported (and erased) under the first alone, silently."""
    with pytest.raises(SubjectError):
        subject_for(agent=agent)


def test_an_identifier_moved_away_from_the_employee_is_in_their_identity_history():
    """identity_links_move files the change under the employee it moved to; the one it was taken
    from still had it linked, and their history says so (before: their employee id)."""
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["desk@example.com"]), source="admin"
    )
    identity_links_move(
        identifiers=Identifiers(emails=["desk@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )

    history = json.loads(export(subject_for(employee_id="E1"))["identity.json"])["history"]
    assert [(change["action"], change["employee_id"]) for change in history] == [
        ("link_added", "E1"),
        ("link_moved", "E2"),
    ]
    assert history[1]["before"]["employee_id"] == "E1"


def test_the_deliveries_made_under_an_identifier_before_it_moved_are_in_the_identity_history():
    """A move reports the deliveries already made under the old mapping (``delivered_under_previous``,
    README "Identities"): what was sent about the person, so part of their export."""
    identity_links_upsert(
        employee_id="E1", identifiers=Identifiers(emails=["desk@example.com"]), source="admin"
    )
    body, _ = naming({"objectType": "Agent", "mbox": "mailto:desk@example.com"}, "actor")
    statement_store(statements=[body], credential=None)
    row = Statement.objects.get(statement_id=body["id"])
    Delivery.objects.create(
        target=Target.objects.create(name="pms", adapter="pms", config={}),
        statement=row,
        statement_uuid=row.statement_id,
        status=Delivery.DELIVERED,
        idempotency_key="key-desk",
        next_attempt_at=timezone.now(),
        delivered_at=timezone.now(),
    )
    identity_links_move(
        identifiers=Identifiers(emails=["desk@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )

    history = json.loads(export(subject_for(employee_id="E1"))["identity.json"])["history"]
    [moved] = [change for change in history if change["action"] == "link_moved"]
    assert moved.get("delivered_under_previous") == [["pms", body["id"]]], moved


def test_an_agents_export_holds_the_history_of_its_identifier_unlinked_since():
    """Named by an agent whose identifier the feed unlinked (a leaver), the person's identity
    history is still the rows naming that identifier: their link and its removal, with the
    deliveries made under it (``delivered_under_previous``: what was sent about them). The erasure
    of the same agent deletes exactly those rows as the person's; the export left them out."""
    address = "leaver@example.com"
    identity_links_upsert(employee_id="E1", identifiers=Identifiers(emails=[address]), source="admin")
    body, _ = naming({"objectType": "Agent", "mbox": f"mailto:{address}"}, "actor")
    statement_store(statements=[body], credential=None)
    row = Statement.objects.get(statement_id=body["id"])
    Delivery.objects.create(
        target=Target.objects.create(name="pms", adapter="pms", config={}),
        statement=row,
        statement_uuid=row.statement_id,
        status=Delivery.DELIVERED,
        idempotency_key="key-leaver",
        next_attempt_at=timezone.now(),
        delivered_at=timezone.now(),
    )
    identity_links_remove(employee_id="E1", identifiers=Identifiers(emails=[address]))

    history = json.loads(export(subject_for(agent={"mbox": f"mailto:{address}"}))["identity.json"])["history"]
    assert [(change["action"], change["employee_id"]) for change in history] == [
        ("link_added", "E1"),
        ("link_removed", "E1"),
    ], history
    assert history[1]["delivered_under_previous"] == [["pms", body["id"]]]


def test_an_employee_named_only_in_anothers_history_is_known_and_exported():
    """Their one identifier, linked before the identity history existed (no row of theirs), moved
    to another employee; no HRIS record. The move's row names them (``before``) and what was sent
    about them (``delivered_under_previous``): their export holds it, not "nothing is known"."""
    IdentityLink.objects.create(
        employee_id="E1",
        kind="email",
        value="desk@example.com",
        lookup_key=email_lookup_key("desk@example.com"),
        source="admin",
    )
    identity_links_move(
        identifiers=Identifiers(emails=["desk@example.com"]), from_employee_id="E1", to_employee_id="E2"
    )

    subject = subject_for(employee_id="E1")
    assert subject_is_known(subject)
    history = json.loads(export(subject)["identity.json"])["history"]
    moves = [(change["action"], change["before"]["employee_id"]) for change in history]
    assert moves == [("link_moved", "E1")]


def test_a_2_0_statements_context_agents_are_exported_as_stored_not_downgraded():
    ada = person("E1")
    body, version = naming(ada["account"], "context_agent")
    statement_store(statements=[body], credential=None, version=version)

    [line] = _lines(export(subject_for(agent=ada["account"]))["statements.jsonl"])
    assert json.loads(line)["context"]["contextAgents"] == body["context"]["contextAgents"]


def test_an_export_by_mbox_holds_the_statements_filed_under_that_addresses_sha1sum():
    """The mbox_sha1sum of the same mailto IRI names the same mailbox (Data 2.4.2.3)."""
    ada = person("E1")
    by_mbox, _ = naming(ada["mbox"], "actor")
    by_sha1, _ = naming(ada["mbox_sha1sum"], "actor")
    statement_store(statements=[by_mbox, by_sha1], credential=None)

    exported = ids(export(subject_for(agent={"mbox": "mailto:e1@example.com"}))["statements.jsonl"])
    assert exported == {by_mbox["id"], by_sha1["id"]}


def test_the_attachment_bytes_of_the_persons_statements_are_in_their_export():
    """README "What is stored": attachments among the person's data; the export promises everything
    the LRS holds about them. The statement carries only the attachment's metadata (sha2)."""
    ada = person("E1")
    certificate = b"%PDF-1.4 certificate of Ada E1"
    sha2 = hashlib.sha256(certificate).hexdigest()
    body, _ = naming(ada["mbox"], "actor")
    body["attachments"] = [
        {
            "usageType": "http://id.tincanapi.com/attachment/certificate-of-completion",
            "display": {"en-US": "certificate"},
            "contentType": "application/pdf",
            "length": len(certificate),
            "sha2": sha2,
        }
    ]
    statement_store(
        statements=[body],
        credential=None,
        attachments=[AttachmentPart(sha2=sha2, content_type="application/pdf", data=certificate)],
    )

    files = export(subject_for(employee_id="E1"))
    assert files.get(f"attachments/{sha2}.pdf") == certificate, sorted(files)
    assert json.loads(files["manifest.json"])["counts"]["attachments"] == 1
    person("E2")
    assert not [name for name in export(subject_for(employee_id="E2")) if name.startswith("attachments/")]


def test_an_employee_the_lrs_holds_only_an_hris_record_of_is_known_and_exported():
    """A hire the HRIS feed described before any identifier was linked: their employee record and
    its history are held, so a subject access request is answered with them, not "nothing"."""
    Employee.objects.create(employee_id="E5", department="Safety", manager_id="E1")

    subject = subject_for(employee_id="E5")
    assert subject_is_known(subject)
    [employee] = json.loads(export(subject)["identity.json"])["employees"]
    assert (employee["employee_id"], employee["department"]) == ("E5", "Safety")
