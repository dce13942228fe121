"""Signals the LRS sends. Other apps (the fan-out) listen; the LRS imports none of them."""

from django.dispatch import Signal

# Sent inside the storing transaction just before the new statements are written, with
# ``statement_pks`` (the primary keys the rows will have) and ``statements`` (the same
# statements as stored: read-only dicts, in the same order). Repeats of already-stored
# statements are not included. A receiver may return a list of ``lrs.bulk.CompanionRows``:
# rows written with the statements in the same write (one round trip for a small batch), so
# they commit or roll back together. Receivers may also register ``transaction.on_commit`` hooks.
statements_storing = Signal()

# Sent inside the storing transaction, after the rows are written, with
# ``statement_pks``: the primary keys of the statements this call inserted.
statements_stored = Signal()

# Sent inside the storing transaction with ``statement_pks`` of statements that
# were just voided.
statements_voided = Signal()
