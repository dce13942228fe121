"""A privacy request naming the person by the SHA-1 of a linked address (``mbox_sha1sum``, the
same mailbox: xAPI Data 2.4.2.3) covers that address as a request naming the address would: its
identity link, the statements filed under the address and under the SHA-1, and their effects at
the targets."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command

from adapters.identity.links import Identifiers, identity_links_upsert
from adapters.models import IdentityDigest, IdentityLink
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.subjects import subject_for
from tests.adapters.helpers import scored_completion as completion
from tests.adapters.helpers import store_now

pytestmark = pytest.mark.django_db
SHA1 = hashlib.sha1(b"mailto:learner@example.com").hexdigest()  # E100's address (fake_env)
BY_SHA1 = {"objectType": "Agent", "mbox_sha1sum": SHA1}


def hashed_completion() -> dict:
    statement = completion(0.8)
    statement["actor"] = dict(BY_SHA1)
    return statement


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_an_erasure_by_the_sha1_of_a_linked_address_erases_the_address_and_its_effects(
    pms_target, market_target, django_capture_on_commit_callbacks, mode
):
    store_now(django_capture_on_commit_callbacks, completion(0.92), hashed_completion())
    assert sorted(event["employeeId"] for event in pms_target.events().values()) == ["E100", "E100"]
    assert ("E100", "SAFETY-BASICS") in market_target.skills()

    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(agent=BY_SHA1), mode=mode, requested_by="dpo")
    finish_erasures()

    assert outcome.request.counts["own_statements"] == 2
    assert not IdentityLink.objects.filter(value="learner@example.com").exists()
    assert not IdentityDigest.objects.exists()
    assert pms_target.events() == {}
    assert ("E100", "SAFETY-BASICS") not in market_target.skills()


def test_the_erase_actor_command_by_sha1_dry_run_counts_the_addresss_statements(
    pms_target, django_capture_on_commit_callbacks
):
    store_now(django_capture_on_commit_callbacks, completion(0.92), completion(0.5))
    out = io.StringIO()
    call_command("erase_actor", "--agent", json.dumps(BY_SHA1), "--dry-run", "--json", stdout=out)
    plan = json.loads(out.getvalue())
    assert (plan["own_statements"], plan["identity_links"], plan["retractions"]) == (2, 1, {"pms": 2})


def test_an_export_by_the_sha1_of_a_linked_address_holds_the_statements_by_the_address(
    pms_target, django_capture_on_commit_callbacks, tmp_path: Path
):
    ids = store_now(django_capture_on_commit_callbacks, completion(0.92), hashed_completion())
    output = tmp_path / "export.zip"
    call_command(
        "export_actor",
        "--agent",
        json.dumps(BY_SHA1),
        "--output",
        str(output),
        "--no-progress",
        stdout=io.StringIO(),
    )
    with zipfile.ZipFile(output) as archive:
        statements = [json.loads(line) for line in archive.read("statements.jsonl").decode().splitlines()]
        identity = json.loads(archive.read("identity.json"))
    assert sorted(statement["id"] for statement in statements) == sorted(ids)
    assert [(link["employee_id"], link["value"]) for link in identity["links"]] == [
        ("E100", "learner@example.com")
    ]


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
def test_an_erasure_by_the_sha1_of_the_mailbox_a_link_matches_erases_the_statements_naming_that_mailbox(
    pms_target, django_capture_on_commit_callbacks, mode
):
    # Linked with a +alias: the link matches ada@example.com (the alias stripped), so a statement
    # naming that mailbox is E200's, and the link derives that mailbox's SHA-1 (its lookup key's).
    # A request by that SHA-1 names the mailbox (Data 2.4.2.3) as one by the mbox would.
    identity_links_upsert(employee_id="E200", identifiers=Identifiers(emails=["ada+lms@example.com"]))
    store_now(django_capture_on_commit_callbacks, completion(0.92, email="ada@example.com"))
    assert [event["employeeId"] for event in pms_target.events().values()] == ["E200"]
    named = {"objectType": "Agent", "mbox_sha1sum": hashlib.sha1(b"mailto:ada@example.com").hexdigest()}

    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(agent=named), mode=mode, requested_by="dpo")
    finish_erasures()

    assert outcome.request.counts["own_statements"] == 1
    assert not IdentityLink.objects.filter(employee_id="E200").exists()
    assert pms_target.events() == {}


# The reverse: a request naming the address (``mbox``) covers the explicit ``mbox_sha1sum`` link
# of its mailbox (an ``mbox`` resolves through it: ``adapters.identity.resolution.agent_keys``),
# and the statements filed under that SHA-1, as a request naming the SHA-1 covers the address.
ADA_SHA1 = hashlib.sha1(b"mailto:ada@example.com").hexdigest()


def ada_known_by_sha1_only(capture) -> list[str]:
    """E300 is linked by the SHA-1 of ada@example.com alone; a completion by the address and one
    by the SHA-1 both reach the PMS and the marketplace under E300. Their ids."""
    identity_links_upsert(employee_id="E300", identifiers=Identifiers(mbox_sha1sums=[ADA_SHA1]))
    by_address = completion(0.92, email="ada@example.com")
    by_sha1 = completion(0.8)
    by_sha1["actor"] = {"objectType": "Agent", "mbox_sha1sum": ADA_SHA1}
    return store_now(capture, by_address, by_sha1)


@pytest.mark.parametrize("mode", ["delete", "pseudonymise"])
@pytest.mark.parametrize("spelled", ["ada@example.com", "Ada@Example.com"])
def test_an_erasure_by_an_address_erases_the_explicit_link_of_its_sha1_and_the_statements_under_it(
    pms_target, market_target, django_capture_on_commit_callbacks, mode, spelled
):
    """As written or spelled otherwise (the SHA-1 linked is of the address as matched)."""
    identity_links_upsert(employee_id="E300", identifiers=Identifiers(mbox_sha1sums=[ADA_SHA1]))
    by_sha1 = completion(0.8)
    by_sha1["actor"] = {"objectType": "Agent", "mbox_sha1sum": ADA_SHA1}
    store_now(django_capture_on_commit_callbacks, completion(0.92, email=spelled), by_sha1)
    assert sorted(event["employeeId"] for event in pms_target.events().values()) == ["E300", "E300"]
    assert ("E300", "SAFETY-BASICS") in market_target.skills()

    named = {"objectType": "Agent", "mbox": f"mailto:{spelled}"}
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(agent=named), mode=mode, requested_by="dpo")
    finish_erasures()

    assert outcome.request.counts["own_statements"] == 2
    assert not IdentityLink.objects.filter(employee_id="E300").exists()
    assert pms_target.events() == {}
    assert ("E300", "SAFETY-BASICS") not in market_target.skills()


def test_the_erase_actor_command_by_an_address_dry_run_counts_its_sha1_link_and_statements(
    pms_target, django_capture_on_commit_callbacks
):
    ada_known_by_sha1_only(django_capture_on_commit_callbacks)
    out = io.StringIO()
    agent = {"objectType": "Agent", "mbox": "mailto:ada@example.com"}
    call_command("erase_actor", "--agent", json.dumps(agent), "--dry-run", "--json", stdout=out)
    plan = json.loads(out.getvalue())
    assert (plan["own_statements"], plan["identity_links"], plan["retractions"]) == (2, 1, {"pms": 2})


def test_an_export_by_an_address_holds_the_statements_by_its_sha1_and_the_sha1_link(
    pms_target, django_capture_on_commit_callbacks, tmp_path: Path
):
    ids = ada_known_by_sha1_only(django_capture_on_commit_callbacks)
    output = tmp_path / "export.zip"
    agent = {"objectType": "Agent", "mbox": "mailto:ada@example.com"}
    call_command(
        "export_actor",
        "--agent",
        json.dumps(agent),
        "--output",
        str(output),
        "--no-progress",
        stdout=io.StringIO(),
    )
    with zipfile.ZipFile(output) as archive:
        statements = [json.loads(line) for line in archive.read("statements.jsonl").decode().splitlines()]
        identity = json.loads(archive.read("identity.json"))
    assert sorted(statement["id"] for statement in statements) == sorted(ids)
    assert [(link["employee_id"], link["value"]) for link in identity["links"]] == [("E300", ADA_SHA1)]
