"""Reconciliation: does the target hold exactly what the learning records say?

For a target and a window of ``stored`` time, ``expected`` walks the live statements the target's
filter takes (through the statement query layer, one page at a time) and says what the target
should hold for each, or why it is legitimately held back (an unmapped learner); ``tally`` sums
keys per day bucket into a count and an order-independent hash, so matching days cost no id
lists; ``run`` compares them with what the deliveries say was sent and, for adapters that can read
their target back (``Adapter.read_back``), with what the target reports, drills into mismatching
days down to ids, and records a ``ReconciliationRun``; ``repair`` sends what is missing, retracts
what is extra and corrects what differs, through the normal delivery path and its idempotency keys.
What retention changed or removed (``expected.AgedOut``) is counted aged out: not judged, never
repaired (README "Retention": retention ages data out of the LRS, not out of the targets).

May import: the contract modules of ``adapters`` (base, registry, secrets, models), ``adapters.rules``,
``adapters.delivery`` (the engine's services, for repairs), ``adapters.alerts`` (the drift alert
after a run) and ``lrs`` (the query layer). Never a
target package (adapters come through the registry), ``ops`` or ``admin``.
"""
