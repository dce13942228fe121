"""The document resources: State, Activity Profile and Agent Profile documents (xAPI 1.0.3
Communication 2.3, 2.6, 2.7): the table, the writes with their preconditions, the reads.

May import: ``lrs.xapi``, Django. Never ``lrs.statements``, ``lrs.api`` or ``adapters``.
"""
