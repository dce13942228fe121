"""The fan-out's Django admin, one module per thing it shows: targets, deliveries (and outbox
batches), identity links (employees, the identity history), competency mappings, reconciliation
runs, erasure requests, retention runs and the export page. Django imports this package
as the app's ``admin`` module; importing the modules registers their pages.

May import: every other room of ``adapters`` (the admin is a view onto all of them), the
``lrs`` query layer and ``lrs.admin`` (to add the deliveries panel to the statement page). Nothing
imports it.
"""

from adapters.admin import competencies, deliveries, erasure, identity, privacy, reconciliation, targets

__all__ = ["competencies", "deliveries", "erasure", "identity", "privacy", "reconciliation", "targets"]
