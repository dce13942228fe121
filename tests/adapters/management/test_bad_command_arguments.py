"""Arguments of the delivery commands that cannot name anything, or that no loop can wait, are a
CommandError before any work, never a traceback, and change nothing:

- a target name with a lone surrogate (a byte of a non-UTF-8 shell that Python read with
  ``surrogateescape``): no target has such a name (they are ``[-a-zA-Z0-9_]+``), so it is "no
  target named ..." as for any unknown name; was a UnicodeEncodeError traceback from the lookup;
- ``deliveries_sweep --loop --interval`` not a positive finite number of seconds: was a sweep (it
  dispatched) and then a ValueError traceback from ``time.sleep`` (``0``: a loop sweeping without
  pause).
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from adapters.management.commands import deliveries_sweep
from tests.adapters.management.conftest import database, run

pytestmark = pytest.mark.django_db

NAME = "ren\udce9"


@pytest.mark.parametrize(
    "arguments",
    [["deliveries_backfill", NAME], ["deliveries_replay", "--target", NAME], ["reconcile", "--target", NAME]],
    ids=["backfill", "replay", "reconcile"],
)
def test_a_target_name_no_target_can_have_is_no_target_named(arguments):
    before = database()
    with pytest.raises(CommandError) as refused:
        run(*arguments, "--no-progress")
    assert "no target named" in str(refused.value), str(refused.value)
    assert database() == before


@pytest.mark.parametrize("interval", ["-1", "0", "nan", "inf"])
def test_a_sweep_interval_no_loop_can_wait_is_refused_before_sweeping(monkeypatch, interval):
    def sweep_due() -> int:  # stops the loop at its first sweep (an interval of 0 never ends)
        raise AssertionError(f"swept with --interval {interval}")

    monkeypatch.setattr(deliveries_sweep, "sweep_due", sweep_due)
    with pytest.raises(CommandError) as refused:
        run("deliveries_sweep", "--loop", "--interval", interval)
    assert str(refused.value).startswith("--interval: "), str(refused.value)
