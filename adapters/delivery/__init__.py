"""The delivery engine: from a stored batch's outbox entry to a recorded effect at each target.

``outbox`` (the ingest-time entry and its expansion into delivery rows), ``queue`` (drain
requests, one per target, tasks named not imported; the web process's publisher thread), ``drain``
(claim a target's due deliveries in batches; one delivery by id), ``batch`` (run a claimed batch:
live check, retraction order, prepare, send concurrently), ``arrays`` (requests carrying several
deliveries, for a target taking arrays: grouping, splitting a refused array, what an attempt
record keeps of it), ``outcomes`` (what came of it, written
in bulk; retry decisions), ``pacing`` (circuit breaker with a half-open probe, rate limit;
``pacing.ingest_first``: the fan-out yields to a burst of ingest),
``voiding`` (cancel or retract), ``replay`` (replay, cancel, backfill, outcome-unknown answers),
``sweep`` (what no worker took), ``receivers`` (the LRS's signals), ``tasks`` (the Celery
interface, on top).

May import: the contract modules of ``adapters`` (base, outbound, registry, secrets, correlation,
models),
``adapters.rules`` (the retry policy among them), ``adapters.targets``, and ``lrs`` (query layer,
signals, bulk writes). Never a target package, ``identity``, ``ops`` or ``admin``: adapters are
found through the registry.
"""
