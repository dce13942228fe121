"""The talent-marketplace target: skill records per member and competency, built by the CSV field
mapping (``mapping.csv``) from the versioned competency mapping.

May import: the contract modules of ``adapters`` (base, http, oauth, models), ``adapters.rules``
and ``adapters.identity.resolution``. Never another target package or the delivery engine.
"""
