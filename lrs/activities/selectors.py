"""Reads behind ``GET /xapi/activities`` (xAPI 1.0.3 Communication 2.5)."""

from __future__ import annotations

from typing import Any

from lrs.activities.models import Activity
from lrs.xapi.activity_definitions import activity_object


def activity_get(activity_id: str) -> dict[str, Any]:
    """The Activity object for ``activity_id``: its canonical definition, or just the id when none is known.

    1.0.3 Communication 2.5: "If an LRS does not have a canonical definition of the
    Activity to return, the LRS SHOULD* still return an Activity Object when queried."
    """
    row = Activity.objects.filter(activity_id=activity_id).only("definition").first()
    return activity_object(activity_id, row.definition if row is not None else None)
