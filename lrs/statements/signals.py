"""Signals the LRS sends. Other apps (the fan-out) listen; the LRS imports none of them."""

from django.dispatch import Signal

# Sent just before the new statements are written, with ``statement_pks`` (the primary keys the
# rows will have) and ``statements`` (the same statements as stored: read-only dicts, in the same
# order; their ``stored``, and a ``timestamp`` the statement did not carry, may still be a
# placeholder the database fills in during the write: lrs.statements.single). Repeats of
# already-stored statements are not included. A receiver may return a list of
# ``lrs.statements.bulk.CompanionRows``: rows written with the statements in the same write (one SQL
# statement for a single statement or a small batch), so they commit or roll back together.
# It may be sent more than once for the same statements (a single-statement write that finds it
# cannot proceed falls back to the general path), so receivers must not act before the rows are
# written: their ``after_write`` hooks are the place for that (say, ``transaction.on_commit``).
statements_storing = Signal()

# Sent after the rows are written, with ``statement_pks``: the primary keys of the statements this
# call inserted; inside the storing transaction, or right after the one SQL statement that wrote
# a single statement committed (no transaction is open then, unless the caller opened one).
statements_stored = Signal()

# Sent inside the storing transaction with ``statement_pks`` of statements that
# were just voided.
statements_voided = Signal()
