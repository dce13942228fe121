"""The Performance Management System target: learning events per qualifying statement.

May import: the contract modules of ``adapters`` (base, http, oauth), ``adapters.rules`` and
``adapters.identity.resolution``. Never another target package or the delivery engine.
"""
