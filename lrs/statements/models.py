"""The statement tables.

A statement is kept twice over: ``payload`` is the statement exactly as stored
(JSON text, served as-is for ``format=exact``), and the columns beside it are
what the query filters of xAPI 1.0.3 Communication 2.1.3 need, each indexed
together with ``stored`` so that a filtered, ordered, limited query is an
index scan. ``StatementAgent`` / ``StatementActivity`` rows answer the
``agent``/``activity`` filters, with ``direct`` marking actor/object (the plain
filter) against anything else (``related_agents`` / ``related_activities``).
``StatementAttachment`` rows say which statements name which attachment hash: the bytes are
shared by hash and may go only when none does.

Foreign keys on the ingest path (statement -> credential, index row -> statement, and the
fan-out's delivery -> statement/target) have no database constraint (``db_constraint=False``):
PostgreSQL checks each one with a trigger per inserted row that also locks the referenced row
(``FOR KEY SHARE``), so every concurrent batch of one credential queued on that credential's row
and a batch of 100 ran about a thousand trigger queries. The rows are written together by
``statement_store`` in one transaction, and deletes go through Django's collector, which still
cascades (``on_delete``): tests/lrs/statements/test_models.py shows both.
"""

from __future__ import annotations

from django.db import models
from django.db.models.expressions import RawSQL

from lrs.credentials.models import Credential


class Statement(models.Model):
    id = models.BigAutoField(primary_key=True)
    statement_id = models.UUIDField(unique=True)
    payload = models.TextField(help_text="The statement as stored, JSON")
    stored = models.DateTimeField()
    timestamp = models.DateTimeField()
    version = models.CharField(max_length=16)
    verb_id = models.TextField()
    actor_ifi = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL = absent, kept out of indexes)
    object_type = models.CharField(max_length=16)
    object_activity_id = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL = absent, kept out of indexes)
    object_agent_ifi = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL = absent, kept out of indexes)
    object_statement_id = models.UUIDField(null=True, blank=True)
    registration = models.UUIDField(null=True, blank=True)
    authority_ifi = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL = absent, kept out of indexes)
    # Indexed together with stored (stmt_credential_stored); no separate foreign-key index.
    # No database constraint (see INGEST_FOREIGN_KEYS below); Django's collector still applies
    # SET_NULL when a credential is deleted.
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.SET_NULL, db_index=False, db_constraint=False
    )
    is_voiding = models.BooleanField(default=False)
    voided = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["stored", "id"], name="stmt_stored"),
            models.Index(fields=["verb_id", "stored", "id"], name="stmt_verb_stored"),
            # Most statements have no registration: only those that do are indexed.
            models.Index(
                fields=["registration", "stored", "id"],
                name="stmt_registration_stored",
                condition=models.Q(registration__isnull=False),
            ),
            models.Index(fields=["credential", "stored", "id"], name="stmt_credential_stored"),
            # Statements whose object is a StatementRef, in stored order: the second
            # query of a filtered GET (referring statements match their target's filter).
            models.Index(
                fields=["stored", "id"],
                name="stmt_refs_stored",
                condition=models.Q(object_statement_id__isnull=False),
            ),
            # Referring statements by their own id: whether a StatementRef's target refers on
            # (a chain the query filters follow, selectors._referring_keys; few rows).
            models.Index(
                fields=["statement_id"],
                name="stmt_refs_by_id",
                condition=models.Q(object_statement_id__isnull=False),
            ),
            # Voiding statements by their target: a statement arriving after its voiding
            # statement is stored voided (lrs.statements.store; few rows, one probe per statement).
            models.Index(
                fields=["object_statement_id"],
                name="stmt_voiding_target",
                condition=models.Q(is_voiding=True),
            ),
        ]

    def __str__(self) -> str:
        return str(self.statement_id)


class StatementRefChainExists(models.Expression):
    """Whether a chain of StatementRefs from the statement id ``start`` (``start``, the statement
    it targets if that one is a StatementRef too, and so on; a cycle ends where it closes) reaches
    one of ``targets`` (a ``Statement`` queryset). ``WITH RECURSIVE`` on PostgreSQL and SQLite,
    each link found by the unique ``statement_id``: for Communication 2.1.3, "Filter Conditions for
    StatementRefs": "This rule applies recursively". With ``credential_id`` (statements/read/mine)
    the chain goes on only through that credential's statements: a link it may not read must not
    decide the answer."""

    output_field = models.BooleanField()
    _CHAIN = "stmtref_chain"

    def __init__(
        self, start: models.Expression, targets: models.QuerySet, *, credential_id: int | None = None
    ) -> None:
        super().__init__()
        self.credential_id = credential_id
        link = RawSQL(f"{self._CHAIN}.id", ())  # noqa: S611 (a constant: the chain's column)
        self.start, self.targets = start, models.Exists(targets.filter(statement_id=link))

    def get_source_expressions(self) -> list:
        return [self.start, self.targets]

    def set_source_expressions(self, expressions: list) -> None:
        self.start, self.targets = expressions

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        start, start_params = compiler.compile(self.start)
        targets, targets_params = compiler.compile(self.targets)
        table, chain = connection.ops.quote_name(Statement._meta.db_table), self._CHAIN
        mine, mine_params = (
            ("", []) if self.credential_id is None else (" AND s.credential_id = %s", [self.credential_id])
        )
        sql = (
            f"EXISTS (WITH RECURSIVE {chain}(id) AS (SELECT {start} "  # noqa: S608 (no user text)
            f"UNION SELECT s.object_statement_id FROM {table} s JOIN {chain} c ON s.statement_id = c.id "
            f"WHERE s.object_statement_id IS NOT NULL{mine}) SELECT 1 FROM {chain} WHERE {targets})"
        )
        return sql, [*start_params, *mine_params, *targets_params]


class StatementAgent(models.Model):
    """An agent (by IFI) a statement mentions; ``direct`` when it is the actor or object.

    The primary key is (statement, agent_ifi): a statement files an agent once, and the key's
    index also serves the lookups by statement (deletes). A surrogate id cost a sequence call and
    a second index per row, and a statement has several of these rows (see migration 0007)."""

    pk = models.CompositePrimaryKey("statement_id", "agent_ifi")
    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="agents", db_index=False, db_constraint=False
    )
    agent_ifi = models.TextField()
    direct = models.BooleanField()
    stored = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["agent_ifi", "stored", "statement"], name="stmtagent_ifi_stored"),
            # The plain ``agent`` filter (actor or object only) walks this one.
            models.Index(
                fields=["agent_ifi", "stored", "statement"],
                name="stmtagent_direct_stored",
                condition=models.Q(direct=True),
            ),
        ]

    def __str__(self) -> str:
        return self.agent_ifi


class StatementActivity(models.Model):
    """An activity a statement mentions; ``direct`` when it is the object. The primary key is
    (statement, activity_id), like ``StatementAgent``'s."""

    pk = models.CompositePrimaryKey("statement_id", "activity_id")
    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="activities", db_index=False, db_constraint=False
    )
    activity_id = models.TextField()
    direct = models.BooleanField()
    stored = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["activity_id", "stored", "statement"], name="stmtactivity_id_stored"),
            models.Index(
                fields=["activity_id", "stored", "statement"],
                name="stmtactivity_direct_stored",
                condition=models.Q(direct=True),
            ),
        ]

    def __str__(self) -> str:
        return self.activity_id


class StatementAttachment(models.Model):
    """An attachment a statement (or its SubStatement) names by ``sha2`` (Data 2.4.11): what keeps
    the shared bytes of that hash (``AttachmentContent``) alive. Erasure and retention delete the
    bytes of a hash only when no row names it, found through the ``sha2`` index; before these
    rows, each hash cost a scan of every stored statement's text. Written with the statement
    (``lrs.statements.rows.index_tables``); most statements have no attachment and no row."""

    pk = models.CompositePrimaryKey("statement_id", "sha2")
    statement = models.ForeignKey(
        Statement,
        on_delete=models.CASCADE,
        related_name="attachment_refs",
        db_index=False,
        db_constraint=False,
    )
    sha2 = models.CharField(max_length=128)

    class Meta:
        indexes = [models.Index(fields=["sha2"], name="stmtattachment_sha2")]

    def __str__(self) -> str:
        return self.sha2


class ErasureMark(models.Model):
    """One row per erasure of a person, written in the erasure's transaction (and one more when it
    finishes): each process forgets what it remembers of people when the newest one or their count
    changes (``lrs.statements.erasure``), whatever the other processes, the cache and the broker
    are doing."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"erasure mark {self.id}"
