"""Statements: the tables, the checks a batch passes before anything is written, the store (the
write in one transaction: conflicts, voiding, index rows, the fan-out's companion rows), the
one-statement fast path, the query layer that ``GET /xapi/statements`` and the fan-out read
through, erasure, and the signals the fan-out listens to.

May import: ``lrs.xapi`` (the spec rules), ``lrs.credentials``, ``lrs.activities``,
``lrs.attachment_store``, Django. Never ``lrs.api`` or ``adapters``.
"""
