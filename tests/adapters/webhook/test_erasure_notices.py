"""The ``actor.erased`` notice names the person as the receiver was told of them, and reaches it
after every delivery of the person's statements that was being sent when the erasure was made: the
receiver is never told of the person after it was told to erase them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery import outbox
from adapters.delivery.drain import delivery_send
from adapters.models import Delivery, Target
from adapters.privacy.erasure import erase_subject, finish_erasures
from adapters.privacy.retention import Policy, apply_retention
from adapters.privacy.subjects import subject_for
from adapters.webhook.adapter import WebhookAdapter
from lrs.statements.models import Statement
from lrs.statements.store import statement_store
from tests.adapters.helpers import COURSE, erase_while_sending, expand_outbox, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import status
from tests.targets.webhook_server import applied_then

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(webhook_target, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    return webhook_target


def erase_agent(capture, email: str) -> None:
    agent = {"objectType": "Agent", "mbox": f"mailto:{email}"}
    with capture(execute=True):
        erase_subject(subject_for(agent=agent), mode="delete", requested_by="dpo")
    finish_erasures()


def test_an_unlinked_learner_erased_by_agent_is_named_by_the_pseudonym_the_receiver_holds(
    hook, django_capture_on_commit_callbacks
):
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="nobody@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in hook.effects() if e["event"] == "statement.stored"]
    held = stored["actor"]  # {"pseudonym": "p-..."}: how the receiver knows this learner
    assert set(held) == {"pseudonym"}
    erase_agent(django_capture_on_commit_callbacks, "nobody@example.com")
    [erased] = [e for e in hook.effects() if e["event"] == "actor.erased"]
    # The receiver can act on the notice only if it names the learner as it was told of them.
    assert held["pseudonym"] in erased["actor"].get("pseudonyms", []), (held, erased)


def test_a_linked_learner_erased_by_agent_is_named_by_the_employee_id_the_receiver_holds(
    hook, fake_env, django_capture_on_commit_callbacks
):
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in hook.effects() if e["event"] == "statement.stored"]
    assert stored["actor"] == {"employeeId": "E100"}
    erase_agent(django_capture_on_commit_callbacks, "learner@example.com")
    [erased] = [e for e in hook.effects() if e["event"] == "actor.erased"]
    # And by the pseudonym its statements had before the link, were there any; no address.
    assert erased["actor"]["employeeId"] == "E100", erased
    assert "@" not in str(erased) and all(name.startswith("p-") for name in erased["actor"]["pseudonyms"])


@pytest.mark.django_db(transaction=True)
def test_a_delivery_being_sent_during_an_erasure_does_not_reach_the_receiver_after_actor_erased(
    webhook_target, fake_env, monkeypatch
):
    """A worker claimed and prepared the learner's statement.stored and waits for its send slot
    (the rate limit): the erasure cannot cancel it (in flight), so the notice waits for it."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    Target.objects.create(
        name="hook",
        adapter="webhook",
        config={"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "expand_and_queue", lambda batch_ids, **kwargs: None)
        statement_store(
            statements=[make_statement(activity=COURSE, result={"completion": True})], credential=None
        )
    expand_outbox()
    [delivery] = Delivery.objects.all()

    erase_while_sending(monkeypatch, delivery.id, mode="delete")
    order = [effect["event"] for effect in webhook_target.effects()]
    assert order == ["statement.stored", "actor.erased"], order


def test_a_notice_failing_unexpectedly_at_one_target_is_its_failure_alone(
    hook, fake_env, monkeypatch, django_capture_on_commit_callbacks
):
    """Two webhooks to notify; one raises what no adapter expects (a bug, an odd answer): the
    other still takes its notice, the erasure is not broken, and the failure is recorded by its
    type only, to be tried again."""
    Target.objects.create(
        name="other",
        adapter="webhook",
        config={"url": hook.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}},
    )
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    real_requests = WebhookAdapter.erasure_requests

    def odd(self, notice):
        if notice.target_name == "hook":
            raise ValueError("learner@example.com was in the answer")
        return real_requests(self, notice)

    monkeypatch.setattr(WebhookAdapter, "erasure_requests", odd)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    outcome.request.refresh_from_db()
    targets = outcome.request.targets
    assert "notified" in targets["other"] and "notice" in targets["hook"]
    assert targets["hook"]["last_error"] == "unexpected error: ValueError"
    assert [e["event"] for e in hook.effects()].count("actor.erased") == 1


def test_a_notice_taken_but_answered_500_is_sent_again_under_its_key_and_held_once(
    hook, fake_env, django_capture_on_commit_callbacks
):
    """The receiver applies the ``actor.erased`` notice, then fails to say so (a 500): the next
    run sends it again with the same ``webhook-id``, so a receiver dropping repeats holds it once."""
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    hook.enqueue(applied_then(500))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    outcome.request.refresh_from_db()
    assert "notice" in outcome.request.targets["hook"]  # owed still: to be sent again
    finish_erasures()
    notices = [r for r in hook.requests if r.json.get("event") == "actor.erased"]
    assert [r.status for r in notices] == [500, 200]
    assert notices[0].header("webhook-id") == notices[1].header("webhook-id")
    assert [e["event"] for e in hook.effects()].count("actor.erased") == 1
    outcome.request.refresh_from_db()
    assert "notified" in outcome.request.targets["hook"]


def test_a_learner_erased_after_the_target_was_renamed_is_named_by_the_pseudonym_the_receiver_holds(
    hook, django_capture_on_commit_callbacks
):
    """The target's name is editable in the admin, and without a ``pseudonym_key`` it keys the
    pseudonyms (``Adapter.pseudonym``): statements sent before a rename named the unlinked learner
    by a pseudonym of the former name. The notice must name them by it too, or the receiver
    cannot find whom to erase."""
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="nobody@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in hook.effects() if e["event"] == "statement.stored"]
    Target.objects.filter(name="hook").update(name="hr-hook")  # an admin renames it
    erase_agent(django_capture_on_commit_callbacks, "nobody@example.com")
    [erased] = [e for e in hook.effects() if e["event"] == "actor.erased"]
    assert stored["actor"]["pseudonym"] in erased["actor"].get("pseudonyms", []), (stored["actor"], erased)


def test_a_pseudonymising_webhook_renamed_before_an_erasure_names_the_employee_as_it_was_told(
    webhook_target, fake_env, monkeypatch, django_capture_on_commit_callbacks
):
    """``pseudonymise``: statement.stored named the linked employee by a pseudonym keyed by the
    target's name then; after a rename the notice names them by it too."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    config = {"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "pseudonymise": True}
    Target.objects.create(name="hook", adapter="webhook", config=config)
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in webhook_target.effects() if e["event"] == "statement.stored"]
    Target.objects.filter(name="hook").update(name="hr-hook")
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    [erased] = [e for e in webhook_target.effects() if e["event"] == "actor.erased"]
    named = {erased["actor"].get("pseudonym"), *erased["actor"].get("pseudonyms", [])}
    assert stored["actor"]["pseudonym"] in named, (stored["actor"], erased)


def rename(old: str, new: str) -> None:
    """As an admin renames a target (the change form saves the model)."""
    target = Target.objects.get(name=old)
    target.name = new
    target.save()


def test_a_learner_sent_under_a_name_the_target_had_after_the_delivery_was_queued_is_named_by_it(
    hook, django_capture_on_commit_callbacks, retries_far_off
):
    """A delivery's key names the target as it was when the delivery was queued; its payload is
    keyed by the name it has when it is sent (``batch.context_for``). Queued as "hook", refused
    once, the target renamed "hr-hook", then sent: the receiver holds the learner's pseudonym
    under "hr-hook". Renamed again before the erasure, the notice must still name them by it."""
    hook.enqueue(status(503))
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="nobody@example.com", activity=COURSE, result={"completion": True}),
    )
    [delivery] = Delivery.objects.all()
    assert delivery.status == Delivery.RETRYING
    rename("hook", "hr-hook")
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    Target.objects.update(paused_until=None, consecutive_failures=0)
    delivery_send(delivery.pk)
    [stored] = [e for e in hook.effects() if e["event"] == "statement.stored"]
    rename("hr-hook", "lms-hook")
    erase_agent(django_capture_on_commit_callbacks, "nobody@example.com")
    [erased] = [e for e in hook.effects() if e["event"] == "actor.erased"]
    assert stored["actor"]["pseudonym"] in erased["actor"].get("pseudonyms", []), (stored["actor"], erased)


def test_a_learner_whose_statements_retention_deleted_is_named_by_the_former_name_they_went_under(
    hook, django_capture_on_commit_callbacks
):
    """Retention (``delete``) removed the statement and its delivery, so no key tells the name
    the target had when it was sent; the receiver still holds the learner's pseudonym under it."""
    [sent] = store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="nobody@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in hook.effects() if e["event"] == "statement.stored"]
    rename("hook", "hr-hook")
    aged = Statement.objects.get(statement_id=sent).stored + timedelta(days=31)
    apply_retention(policy=Policy(statement_days=30, mode="delete", attempt_body_days=0), now=aged)
    assert not Delivery.objects.exists()
    erase_agent(django_capture_on_commit_callbacks, "nobody@example.com")
    [erased] = [e for e in hook.effects() if e["event"] == "actor.erased"]
    assert stored["actor"]["pseudonym"] in erased["actor"].get("pseudonyms", []), (stored["actor"], erased)


def test_a_pseudonymising_webhook_renamed_while_its_notice_waits_is_told_the_employee_as_it_knew_them(
    webhook_target, fake_env, monkeypatch, django_capture_on_commit_callbacks
):
    """``pseudonymise``: statement.stored named the employee by a pseudonym keyed by the target's
    name then. The receiver refuses the notice (down for a while) and an admin renames the target
    meanwhile: the notice sent later must still name the employee by that pseudonym, not only by
    one keyed by the new name, which the receiver never saw."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    config = {"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "pseudonymise": True}
    Target.objects.create(name="hook", adapter="webhook", config=config)
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in webhook_target.effects() if e["event"] == "statement.stored"]
    webhook_target.enqueue(status(503))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_subject(subject_for(employee_id="E100"), mode="pseudonymise", requested_by="dpo")
    outcome.request.refresh_from_db()
    assert "notice" in outcome.request.targets["hook"]  # owed still
    rename("hook", "hr-hook")
    finish_erasures()
    [erased] = [e for e in webhook_target.effects() if e["event"] == "actor.erased"]
    named = {erased["actor"].get("pseudonym"), *erased["actor"].get("pseudonyms", [])}
    assert stored["actor"]["pseudonym"] in named, (stored["actor"], erased)
    assert erased["actor"]["pseudonym"] not in erased["actor"]["pseudonyms"], erased  # not twice


def rotate_secret_key(settings) -> None:
    """``SECRET_KEY`` rotated the Django way: the old one kept in ``SECRET_KEY_FALLBACKS``."""
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "y" * 40


def test_a_learner_sent_before_a_secret_key_rotation_is_named_by_the_pseudonym_under_the_old_key(
    hook, settings, django_capture_on_commit_callbacks
):
    """Without a ``pseudonym_key`` the target's pseudonyms are keyed from ``SECRET_KEY``
    (``Adapter.pseudonym``): the receiver holds the learner under the key of the time it was
    sent; after a rotation the notice must name them by it too, or it names no one it holds."""
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="nobody@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in hook.effects() if e["event"] == "statement.stored"]
    rotate_secret_key(settings)
    erase_agent(django_capture_on_commit_callbacks, "nobody@example.com")
    [erased] = [e for e in hook.effects() if e["event"] == "actor.erased"]
    assert stored["actor"]["pseudonym"] in erased["actor"].get("pseudonyms", []), (stored["actor"], erased)


def test_a_pseudonymising_webhook_names_the_employee_as_told_before_a_secret_key_rotation(
    webhook_target, fake_env, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """``pseudonymise``: statement.stored named the linked employee by a pseudonym keyed from the
    ``SECRET_KEY`` of then; after a rotation the notice names them by it too."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "test-webhook-secret")
    config = {"url": webhook_target.url, "secret": {"env": "TEST_WEBHOOK_SECRET"}, "pseudonymise": True}
    Target.objects.create(name="hook", adapter="webhook", config=config)
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    [stored] = [e for e in webhook_target.effects() if e["event"] == "statement.stored"]
    rotate_secret_key(settings)
    with django_capture_on_commit_callbacks(execute=True):
        erase_subject(subject_for(employee_id="E100"), mode="delete", requested_by="dpo")
    [erased] = [e for e in webhook_target.effects() if e["event"] == "actor.erased"]
    named = {erased["actor"].get("pseudonym"), *erased["actor"].get("pseudonyms", [])}
    assert stored["actor"]["pseudonym"] in named, (stored["actor"], erased)
