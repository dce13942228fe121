"""The delivery engine: from a stored batch's outbox entry to a recorded effect at each target.

``outbox`` (the ingest-time entry and its expansion into delivery rows), ``queue`` (handing
delivery ids to workers, tasks named not imported), ``publisher`` (the web process's dispatch
thread), ``send`` (claim, translate, send, record), ``retry`` (backoff policy), ``pacing``
(circuit breaker, rate limit), ``voiding`` (cancel or retract), ``replay`` (replay, cancel,
backfill), ``sweep`` (what no worker took), ``receivers`` (the LRS's signals), ``tasks`` (the
Celery interface, on top).

May import: the contract modules of ``adapters`` (base, registry, secrets, correlation, models),
``adapters.rules``, ``adapters.targets``, and ``lrs`` (query layer, signals, bulk writes). Never a
target package, ``identity``, ``ops`` or ``admin``: adapters are found through the registry.
"""
