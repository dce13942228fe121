"""Canonical Activity definitions (xAPI 1.0.3 Communication 2.5): the table, the merge of
definitions the statement store runs inside its transaction, and the read behind
``GET /xapi/activities``.

May import: ``lrs.xapi``, Django. Never ``lrs.statements``, ``lrs.api`` or ``adapters``.
"""
