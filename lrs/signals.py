"""Signals the LRS sends. Other apps (the fan-out) listen; the LRS imports none of them."""

from django.dispatch import Signal

# Sent inside the storing transaction, after the rows are written, with
# ``statement_pks``: the primary keys of the statements this call inserted
# (repeats of already-stored statements are not included). Receivers write
# their own rows in the same transaction, so they commit or roll back together.
statements_stored = Signal()

# Sent inside the storing transaction with ``statement_pks`` of statements that
# were just voided.
statements_voided = Signal()
