"""Teams: the activity feed offers no way to look a notification up, so an attempt that may have
reached Graph is never sent again blindly: the delivery waits, visible, for an admin."""

from __future__ import annotations

import pytest

from adapters.models import Delivery, Target
from tests.adapters.helpers import COURSE, store_now
from tests.conftest import make_statement
from tests.targets.behaviours import hang, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(fake_env, graph_server):
    Target.objects.create(
        name="teams",
        adapter="msteams",
        config={
            "mode": "activity_feed",
            "tenant_id": graph_server.tenant_id,
            "client_id": graph_server.client_id,
            "client_secret": {"env": "GRAPH_SECRET"},
            "login_base": graph_server.url,
            "graph_base": graph_server.url,
            "timeout_seconds": 0.3,
        },
    )
    return graph_server


@pytest.mark.parametrize("behaviour", [hang(1.0), status(502)], ids=["timeout", "502"])
def test_an_ambiguous_failure_parks_the_delivery_as_outcome_unknown(
    teams, behaviour, django_capture_on_commit_callbacks
):
    teams.enqueue(behaviour)
    store_now(
        django_capture_on_commit_callbacks,
        make_statement(actor_email="learner@example.com", activity=COURSE, result={"completion": True}),
    )
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.UNKNOWN, delivery.last_error
