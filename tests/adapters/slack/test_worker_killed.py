"""Slack through a real Celery worker on a real Redis: a worker killed while its post is out
(Slack writes it after the worker died), the sweep records that attempt as one that may have
posted, and the retry, on another worker, finds the message where that attempt ran and posts no
second one (``Delivery.maybe_applied_between``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from adapters.delivery import sweep
from adapters.models import Attempt, Delivery, Target
from tests.adapters.helpers import COURSE, wait_until
from tests.conftest import make_statement
from tests.targets.behaviours import hang, ok

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_ENV = {
    "LRS_RETRY_BASE_SECONDS": "0.2",
    "LRS_RETRY_CAP_SECONDS": "1",
    "LRS_DELIVERY_CLAIM_SECONDS": "3",
}


def test_a_post_whose_worker_was_killed_while_it_was_out_is_made_once(
    xapi, slack_target, broker, celery_worker_process
):
    first = celery_worker_process(broker, extra_env=WORKER_ENV)
    target = Target.objects.get(name="slack")
    Target.objects.filter(pk=target.pk).update(config={**target.config, "timeout_seconds": 5})
    slack_target.enqueue(ok(), hang(3))  # listed; the post is answered (and made) after 3 s
    completion = {"completion": True}
    statement = make_statement(actor_email="learner@example.com", activity=COURSE, result=completion)
    assert xapi.post_statements([statement]).status_code == 200
    wait_until(lambda: slack_target.requests_for("chat.postMessage"), message="the post reached Slack")
    first.kill()
    wait_until(lambda: slack_target.messages(), message="Slack made the post after the worker died")
    assert Delivery.objects.get().status == Delivery.IN_FLIGHT
    # Its claim runs out (sized for a whole send: nine requests of 5 s): moved on, not waited for.
    Delivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    celery_worker_process(broker, extra_env=WORKER_ENV)

    def swept_and_delivered() -> bool:
        sweep.sweep_due()
        return Delivery.objects.filter(status=Delivery.DELIVERED).exists()

    wait_until(swept_and_delivered, timeout=30, interval=0.5)
    assert len([m for m in slack_target.messages() if m["metadata"]]) == 1
    assert list(Attempt.objects.order_by("number").values_list("number", "outcome", "maybe_applied")) == [
        (1, Attempt.RETRY, True),
        (2, Attempt.SUCCESS, False),
    ]
