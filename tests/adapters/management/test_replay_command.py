"""``manage.py deliveries_replay``: named ids that match nothing exit 1 naming them, a dry run lists
each delivery and what replay would do with it, a real run shows a progress bar and one summary."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError

from adapters.models import Delivery
from lrs.statements.models import Statement
from tests.adapters.management.conftest import database, deliveries_of, run

pytestmark = pytest.mark.django_db


def statuses(ids: list[int]) -> list[str]:
    return list(Delivery.objects.filter(id__in=ids).order_by("id").values_list("status", flat=True))


def test_an_id_that_does_not_exist_exits_1_naming_it_and_replays_nothing(hook_target):
    [dead] = deliveries_of(hook_target, 1)
    with pytest.raises(CommandError, match="nothing replayed: delivery 999999 does not exist"):
        run("deliveries_replay", "--id", "999999", "--id", str(dead))
    assert statuses([dead]) == [Delivery.DEAD]


def test_an_id_that_is_not_dead_or_of_another_target_exits_1_saying_why(hook_target, other_target):
    [delivered] = deliveries_of(hook_target, 1, status=Delivery.DELIVERED)
    with pytest.raises(CommandError, match=f"delivery {delivered} is delivered, not dead or cancelled"):
        run("deliveries_replay", "--id", str(delivered))
    [dead] = deliveries_of(hook_target, 1)
    with pytest.raises(CommandError, match=f"delivery {dead} is of target 'hook', not 'other'"):
        run("deliveries_replay", "--target", "other", "--id", str(dead))
    assert statuses([dead]) == [Delivery.DEAD]


def test_an_unknown_target_exits_1_naming_it(hook_target):
    with pytest.raises(CommandError, match="no target named 'nope'"):
        run("deliveries_replay", "--target", "nope")


def test_nothing_dead_is_nothing_to_do_and_exits_0(hook_target):
    deliveries_of(hook_target, 2, status=Delivery.DELIVERED)
    out, _ = run("deliveries_replay")
    assert out.strip() == "nothing to do: no dead or cancelled deliveries"
    out, _ = run("deliveries_replay", "--target", "hook", "--dry-run")
    assert out.strip() == "nothing to do: no dead or cancelled deliveries of hook"


def test_a_dry_run_lists_each_delivery_and_what_replay_would_do_and_changes_nothing(hook_target):
    first, second = deliveries_of(hook_target, 2)
    gone = Delivery.objects.get(pk=second).statement_id
    Statement.objects.filter(pk=gone).update(voided=True)  # voided since it died
    before = database()

    out, _ = run("deliveries_replay", "--dry-run")

    assert database() == before
    uuid = Delivery.objects.get(pk=second).statement_uuid
    assert out.splitlines() == [
        f"delivery {first} (hook, dead, deliver): would be sent again",
        f"delivery {second} (hook, dead, deliver): would be refused: statement {uuid} is no longer stored",
        "would replay 1 deliveries, refuse 1 (dry run, nothing changed)",
    ]


def test_a_replay_shows_count_rate_and_eta_names_the_refused_and_ends_with_one_summary(hook_target):
    ids = deliveries_of(hook_target, 3)
    Statement.objects.filter(pk=Delivery.objects.get(pk=ids[2]).statement_id).update(voided=True)

    out, err = run("deliveries_replay", "--target", "hook")

    assert statuses(ids) == [Delivery.PENDING, Delivery.PENDING, Delivery.DEAD]
    assert out.strip() == "replayed 2 deliveries, refused 1"
    assert f"delivery {ids[2]} refused: statement" in err
    final = err.split("\r")[-1]
    assert re.search(r"replay: 100%.*3(\.00)?/3(\.00)? \[\d\d:\d\d<\d\d:\d\d, .*delivery/s\]", final), final


def test_no_progress_leaves_stderr_to_the_refusals(hook_target):
    deliveries_of(hook_target, 1)
    out, err = run("deliveries_replay", "--no-progress")
    assert (out.strip(), err) == ("replayed 1 deliveries, refused 0", "")
