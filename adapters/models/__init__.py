"""The fan-out's tables, one module per concern: ``targets``, ``deliveries`` (the outbox, outbox
batches, attempts), ``runs`` (backfill and reconciliation runs, alerts), ``identity`` (identity
links, employees, the identity history, stored OAuth tokens), ``skills`` (the marketplace's
competency mappings, evidence and records), ``privacy`` (erasure requests, retention runs).
Everything is importable from here, as Django expects of an app's ``models``.

May import: ``adapters.base``, ``adapters.config`` and ``adapters.registry`` (the contract),
Django. Nothing above them.
"""

from adapters.models.deliveries import Attempt, Delivery, OutboxBatch, deliveries_locked, delivery_ids_of
from adapters.models.identity import (
    Employee,
    IdentityChange,
    IdentityDigest,
    IdentityLink,
    StoredToken,
    holds_overtaken_by,
)
from adapters.models.privacy import ErasedStatement, ErasureRequest, RetentionRun
from adapters.models.runs import Alert, BackfillRun, ReconciliationRun
from adapters.models.skills import (
    CompetencyMapping,
    SkillEvidence,
    SkillRecord,
    skill_records_locked,
    unevidenced_held,
    without_evidence,
)
from adapters.models.targets import Target

__all__ = [
    "Alert",
    "Attempt",
    "BackfillRun",
    "CompetencyMapping",
    "Delivery",
    "Employee",
    "ErasedStatement",
    "ErasureRequest",
    "IdentityChange",
    "IdentityDigest",
    "IdentityLink",
    "OutboxBatch",
    "ReconciliationRun",
    "RetentionRun",
    "SkillEvidence",
    "SkillRecord",
    "StoredToken",
    "Target",
    "deliveries_locked",
    "delivery_ids_of",
    "holds_overtaken_by",
    "skill_records_locked",
    "unevidenced_held",
    "without_evidence",
]
