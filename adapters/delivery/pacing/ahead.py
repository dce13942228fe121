"""Look-ups ahead: what preparing a batch would ask the target one delivery after another (Slack:
each learner's user, ``users.lookupByEmail``), asked first, concurrently, as sends are: on lanes
of the sending pool (``Lanes``: at most the drain's share of the target's concurrency), each in
its slot of the target's rate limit, none that its batch's claim could not see end. The adapter
remembers what they find (``Adapter.lookups_ahead``); preparing, still one delivery after
another in the drain's thread, finds it there. Preparing stays serial and owns every outcome:
a look-up ahead that fails is only not remembered, and preparing makes it again, its delivery
failing or waiting as it did before (after a 429, the adapter makes none until the target's
Retry-After for the method has passed, and puts the deliveries needing it back until then,
uncounted: ``adapters.slack.throttle``). A 20-message Slack batch at 100 ms
a request spent two seconds preparing, a look-up at a time (``bench/slack_dm.py``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from adapters.base import Adapter, AdapterError, DeliveryBusy
from adapters.delivery.pacing import Schedule, claims, sends_per_drain
from adapters.delivery.pacing.lanes import Lanes
from adapters.models import Delivery, Target

logger = logging.getLogger(__name__)


def look_ahead(
    adapter: Adapter,
    target: Target,
    ready: list[tuple[Delivery, dict]],
    schedule: Schedule,
    pool: Executor,
) -> None:
    """Run the adapter's look-ups for these deliveries' statements before they are prepared."""
    lookups: list[Callable[[], object]] = adapter.lookups_ahead([statement for _, statement in ready])
    if not lookups:
        return
    claim = min(claims.ends([delivery for delivery, _ in ready]), default=None)
    room = claims.request_timeout(target)
    lanes = Lanes(target.id, sends_per_drain(target))

    throttled = threading.Event()

    def look(index: int) -> None:  # on a lane
        if throttled.is_set() or not claims.turn(schedule, claim, room):
            return  # preparing finds nothing remembered and sends nothing either (the claim)
        try:
            lanes.timed(lookups[index])
        except Exception as error:  # preparing asks again, and its delivery's outcome tells
            slow_down = isinstance(error, AdapterError) and error.status_code == 429
            if slow_down or (isinstance(error, (AdapterError, DeliveryBusy)) and error.retry_after):
                throttled.set()  # the target asks to slow down: no more of them from this batch
            # Not the message: a look-up's may carry its URL, and that the learner's address.
            logger.info("a look-up ahead at %s failed (%s)", target.name, type(error).__name__)

    lanes.run(len(lookups), look, pool)
