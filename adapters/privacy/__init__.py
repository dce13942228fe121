"""Privacy: a person's data found, exported, erased, and kept no longer than the policy says.
``subjects`` (who a request is about: the identifiers of an agent or of an employee),
``erasure`` (erase an actor everywhere, in the store and at the targets), ``export`` (subject
access), ``retention`` (the nightly policy).

May import: the contract modules of ``adapters`` (models, base, registry, secrets),
``adapters.identity`` (an employee's identifiers), ``adapters.delivery`` (retractions go through
the normal delivery path) and ``lrs`` (its statement and document services and query layer).
Never a target package or ``admin``.
"""
