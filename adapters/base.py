"""The adapter contract: what every downstream target implements.

An adapter turns one stored statement (as ``GET /xapi/statements`` serves it)
into requests for its system (``translate``, a pure function of the statement and what
``resolve`` looked up), and sends them (``send``, through ``adapters.http``, the one HTTP seam);
``effect`` runs the three for one delivery, and an adapter whose target keeps state derived from
many statements (the marketplace) overrides it. Failures are ``AdapterError``; ``permanent=True``
means retrying cannot help. Shaped after healthchecks' transports (``hc/api/transports.py``).

Every adapter states in its docstring what its target must *hold* after any sequence of
statements, voids, retries, replays and reorderings; tests check that state, not requests.
The request, result and error types live in ``adapters.outbound`` (the HTTP seam uses them too),
the notices a target may announce in ``adapters.notices``; both are re-exported here: an adapter
needs only this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings

from adapters import http
from adapters.notices import AlertNotice, ErasureNotice
from adapters.outbound import AdapterError, DeliveryBusy, OutboundRequest, SendResult
from adapters.rules.keys import held_key_of
from adapters.rules.pseudonyms import derived_key, pseudonym

__all__ = [
    "DELIVER",
    "PRIVACY_CONFIG_PROPERTIES",
    "REPAIR_KEY_MARKER",
    "RETRACT",
    "STORED_AGAIN",
    "Adapter",
    "AdapterConfigError",
    "AdapterError",
    "AlertNotice",
    "DeliveryBusy",
    "DeliveryContext",
    "DeliveryHeld",
    "ErasureNotice",
    "NothingToSend",
    "OutboundRequest",
    "Prepared",
    "RecordPair",
    "SendResult",
    "stored_again_of",
]

DELIVER = "deliver"
RETRACT = "retract"
# In a delivery's idempotency key: a reconciliation repair of a record the target lost or holds
# differently, sent under a key of its own (the target may remember the first key and replay it).
REPAIR_KEY_MARKER = ":repair-"
# In a delivery's idempotency key: a statement id stored again after a delete-mode erasure removed
# its statement is a new record (README, "Privacy"): its deliveries' keys name the erasure it
# follows (the ``ErasedStatement`` row the erasure wrote), or every target would take them for
# repeats of the erased statement's (which the erasure retracted) and apply nothing. The erasure,
# not the row: a record of that id retention removes later was not erased, and the LMS sending it
# once more is a repeat at the targets, as for any statement (README, "Retention").
STORED_AGAIN = ":stored-again-"


def stored_again_of(key: str) -> str | None:
    """The erasure a delivery's key names (``adapters.delivery.outbox.idempotency_key``), None when
    none: what its retraction's key names too, whatever became of the keyed hashes since."""
    if STORED_AGAIN not in key:
        return None
    return key.split(STORED_AGAIN, 1)[1].split(REPAIR_KEY_MARKER, 1)[0]


class DeliveryHeld(Exception):
    """The statement cannot be translated yet (e.g. its actor maps to no employee): the delivery
    waits, neither dead nor lost, until ``key`` is resolved (an identity link appears). ``key`` is
    kept as ``adapters.rules.keys.held_key_of`` gives it (a long one as its digest)."""

    def __init__(self, reason: str, *, key: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.key = held_key_of(key)
        self.detail = detail


class NothingToSend(Exception):
    """This delivery's right effect is no request at all (a failed result a chat channel must
    not announce, a record the target already holds); the message says why."""


class StatementGone(NothingToSend):
    """The statement was voided or erased after the batch read it (an adapter that reads it
    again, as the marketplace does once it holds its records): cancelled, as when claimed so."""


class AdapterConfigError(Exception):
    """A target's configuration does not fit its adapter; the message names the field."""


@dataclass(frozen=True)
class DeliveryContext:
    """Facts about the delivery a translation may use (ids only, no database access)."""

    target_name: str
    kind: str  # DELIVER or RETRACT
    idempotency_key: str
    correlation_id: str = ""
    attempt: int = 1
    # What ``Adapter.resolve`` looked up for this statement (employee id, competencies, ...).
    resolved: dict[str, Any] = field(default_factory=dict)
    # For a retraction: the id the target gave the original effect (``SendResult.external_id``),
    # and whether the original may have made more than that one: an attempt that may have applied
    # without answering (``maybe_applied``), or a repair under a key of its own.
    original_external_id: str = ""
    original_uncertain: bool = False
    # An earlier attempt of this very delivery may have taken effect (``Delivery.maybe_applied``);
    # when those that may have ran, each start to end in time order, if recorded (else None).
    maybe_applied: bool = False
    maybe_applied_between: list[tuple[datetime, datetime]] | None = None
    # What an earlier attempt of this very delivery kept in ``Delivery.external_id``: the id the
    # target gave, or where its effect went (``OutboundRequest.destination``).
    external_id: str = ""
    created_at: datetime | None = None  # when the delivery was created
    # Database keys, for adapters that keep state per target (the marketplace's evidence).
    target_id: int | None = None
    statement_pk: int | None = None
    include_terminated: bool = False  # the target takes employees who left (its config says)
    # A send run whole (``sequential``): whether the delivery's claim covers one of that many
    # seconds, renewed if need be, for an adapter that knows its size once planned (the marketplace).
    room_for: Callable[[float], bool] | None = None


# Configuration every adapter accepts (spread into its ``config_schema``): identifiers of learners
# leave the LRS as keyed pseudonyms, stable per target (``Adapter.subject_id``).
PRIVACY_CONFIG_PROPERTIES: dict[str, Any] = {
    "pseudonymise": {
        "type": "boolean",
        "description": "send a keyed pseudonym instead of the employee id or any other identifier",
    },
    "pseudonym_key": {
        "secret": True,
        "description": 'the key, as {"env": ...} or {"file": ...}; default: derived from SECRET_KEY',
    },
    # Erasure (adapters.privacy): retract the person's effects, tell the target, or neither.
    "on_erasure": {
        "enum": ["retract", "notify", "ignore"],
        "description": "on erasure: retract (PMS, marketplace default), notify (webhook default), ignore",
    },
    # Leavers: by default, statements of an employee the HRIS marks terminated are held from the
    # leaving date on (adapters.identity.resolution.employee_for_statement).
    "include_terminated": {
        "type": "boolean",
        "description": "also send statements of employees who left (held by default)",
    },
}


@dataclass(frozen=True)
class RecordPair:
    """For adapters whose target holds records derived from many statements (the marketplace):
    one record, what it should be (None: no record) and what the target holds (None: none), and
    a statement whose delivery recomputes it (``repair_statement_pk``; ``repair_kind`` deliver, or
    retract when its evidence is all voided). ``also_repair``: further statements whose deliveries
    must run again with it: of several statements moved to another member since their delivery,
    each one's delivery moves its own evidence only. ``aged_out``: the target holds the record last
    sent, computed from evidence retention has removed since; it stands until a later delivery
    recomputes it (README "Retention"), and reconciliation does not judge it."""

    key: str
    expected: dict[str, Any] | None
    found: dict[str, Any] | None
    repair_statement_pk: int | None = None
    repair_kind: str = "deliver"
    also_repair: tuple[int, ...] = ()
    aged_out: bool = False


@dataclass(frozen=True)
class Prepared:
    """A delivery ready to send: its context (with what ``resolve`` found) and its requests; none,
    with a ``note`` saying why, when the right effect is no request at all."""

    context: DeliveryContext
    requests: list[OutboundRequest]
    note: str = ""


class Adapter:
    """Base class. Subclasses set ``name``, ``config_schema`` and implement ``translate``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # JSON schema of the target's configuration; validated when a target is saved and at start-up.
    config_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # Adapters that can undo a delivery (on voiding) set this and implement translate_retraction.
    supports_retraction: ClassVar[bool] = False
    # The target acts on ``actor.erased`` notices (``erasure_requests``; ``on_erasure: notify``).
    takes_erasure_notices: ClassVar[bool] = False
    # A retraction undoes its original's effect: it waits for the original, dropped if never made.
    # The marketplace recomputes state from the live evidence: false, its retraction always runs.
    retraction_needs_original: ClassVar[bool] = True
    # Sending a delivered effect again is harmless (repeats dropped by key, or state recomputed):
    # a forced backfill re-sends only where it is. Chat is not.
    repeatable: ClassVar[bool] = True
    carries_alerts: ClassVar[bool] = False  # a target of it can be an alert target (``alert_requests``)
    # ``resolve`` may hold a delivery until a link names its learner: a batch reads the last
    # identity change first (``delivery.outcomes.last_identity_change``); false saves that query.
    holds_until_linked: ClassVar[bool] = True

    def __init__(self, config: dict[str, Any], secrets: dict[str, str] | None = None) -> None:
        self.config = config
        self.secrets = secrets or {}

    def resolve(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        """Look up what ``translate`` needs beyond the statement (the one step that may read the
        database): e.g. the employee id of the actor. Raise ``DeliveryHeld`` to wait."""
        return {}

    def translate(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        """The request for this statement: a pure function of statement and context."""
        raise NotImplementedError

    def translate_retraction(self, statement: dict, context: DeliveryContext) -> OutboundRequest:
        raise AdapterError(f"the {self.name} adapter cannot retract deliveries", permanent=True)

    def send(self, request: OutboundRequest, context: DeliveryContext) -> SendResult:
        return http.send(request, correlation_id=context.correlation_id)

    @property
    def pseudonymised(self) -> bool:
        return bool(self.config.get("pseudonymise"))

    def pseudonym(
        self, identifier: str, context: DeliveryContext, *, remember: bool = True, secret: str = ""
    ) -> str:
        """The target's pseudonym: keyed by ``pseudonym_key``, else from ``secret`` (SECRET_KEY) and its name.
        ``remember=False``: of one being erased, whom this process forgot (``lrs.statements.erasure``)."""
        key = self.secrets.get("pseudonym_key")
        keyed = key.encode() if key else derived_key(secret or settings.SECRET_KEY, context.target_name)
        return pseudonym(keyed, identifier) if remember else pseudonym.__wrapped__(keyed, identifier)

    def subject_id(self, identifier: str, context: DeliveryContext) -> str:
        """How the learner is named at the target: the identifier, or its pseudonym when the
        target is configured with ``pseudonymise``."""
        return self.pseudonym(identifier, context) if self.pseudonymised else identifier

    def may_resend_unknown_outcome(self) -> bool:
        """Whether an attempt that may have taken effect (``AdapterError.ambiguous``) may be sent
        again: yes where the target drops repeats by idempotency key or the adapter looks before
        re-sending; no parks the delivery as "outcome unknown" for an admin to resolve (as an
        error ``unlookable`` does, one the adapter cannot look for although it can for others)."""
        return True

    @classmethod
    def requests_per_send(cls, config: dict[str, Any]) -> int:
        """How many requests one send to a target so configured may make at most, each up to its
        timeout (a claim lasts long enough for them: ``delivery.drain.claim_seconds``); 2, the
        default: the request and a token fetch."""
        return 2

    @classmethod
    def items_per_request(cls, config: dict[str, Any]) -> int:
        """How many deliveries one request to a target so configured may carry (``send_together``,
        for targets whose API takes arrays); 1, the default: a request of its own for each."""
        return 1

    def send_together(self, prepared: list[Prepared]) -> SendResult:
        """Send these deliveries' effects in one request (at most ``items_per_request``, each prepared with
        exactly one request): what came back applies to every one of them. HTTP only, as ``send_prepared``."""
        raise NotImplementedError(f"the {self.name} adapter sends one delivery per request")

    @property
    def sequential(self) -> bool:
        """Whether a delivery must run whole (``effect``) in the worker's own thread, one after
        another: the adapter keeps state in the database while it sends (the marketplace's lock).
        Otherwise the engine prepares deliveries in its thread and sends them concurrently."""
        return False

    def prefetch(self, statements: list[dict]) -> AbstractContextManager[object]:
        """A scope in which preparing these statements reads what was loaded for them up front
        (the engine prepares a batch inside it: one query per batch instead of one per delivery).
        Adapters that resolve learners to employees load their identity links."""
        return nullcontext()

    def lookups_ahead(self, statements: list[dict]) -> list[Callable[[], object]]:
        """Preparing's look-ups, HTTP only, run first and concurrently by the engine (``pacing.ahead``)."""
        return []

    def prepare(self, statement: dict, context: DeliveryContext) -> Prepared:
        """Resolve (may read the database and look things up at the target) and translate (or
        translate the retraction): the requests that bring about the delivery's effect. Either may
        find that the right effect is no request at all (``NothingToSend``)."""
        try:
            context = replace(context, resolved=self.resolve(statement, context))
            if context.kind == RETRACT:
                requests = self.translate_retraction(statement, context)
            else:
                requests = self.translate(statement, context)
        except NothingToSend as nothing:
            return Prepared(context, [], str(nothing))
        return Prepared(context, requests if isinstance(requests, list) else [requests])

    def send_prepared(self, prepared: Prepared) -> SendResult:
        """Send prepared requests: HTTP only, no database, so it may run in a sending thread.
        Returns the last result, or one with ``status_code`` None and a ``note`` when the right
        effect is no request at all."""
        result = SendResult(status_code=None, note=prepared.note or "nothing to send")
        # An adapter may make several requests for one statement; each has its own idempotency
        # key, so a retry re-sends all of them harmlessly.
        for request in prepared.requests:
            result = self.send(request, prepared.context)
        return result

    def effect(self, statement: dict, context: DeliveryContext) -> SendResult:
        """Bring about this delivery's effect at the target: prepare, then send."""
        return self.send_prepared(self.prepare(statement, context))

    # -- Reconciliation (adapters.reconciliation) ---------------------------------------------
    @property
    def can_read_back(self) -> bool:
        """Whether the target can be asked what it holds (``read_back``); without it,
        reconciliation compares what should be there with what our deliveries say was sent."""
        return False

    def expected_record(self, statement: dict, context: DeliveryContext) -> dict[str, Any]:
        """The fields the target should hold for this live statement (``context.resolved`` is what ``resolve``
        found), as ``read_back`` reports them: the two are compared field by field."""
        raise NotImplementedError

    def read_back(self, since: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
        """(statement id, fields) of every record the target holds that was written at or after
        ``since``, page by page (``AdapterError`` when the target cannot answer)."""
        raise NotImplementedError

    @property
    def reconciles_records(self) -> bool:
        """Whether the target holds records derived from many statements, compared record by record
        (``record_pairs``) rather than statement by statement."""
        return False

    def record_pairs(
        self,
        target_name: str,
        target_id: int,
        since: datetime,
        until: datetime,
        *,
        voided_since: datetime | None = None,
    ) -> Iterator[RecordPair]:
        """Every record the statements stored in the window touched: expected against found; and,
        given ``voided_since`` (before ``since``: retention's cut-off), every record the voided
        statements stored from then on touched (their effect is owed its retraction whatever
        retention did)."""
        raise NotImplementedError

    def records_need_rewrite(self, target_id: int, keys: list[str]) -> None:
        """Before a repair: forget what we believe the target holds for these ``keys``, so the
        repair's deliveries send the records whatever they were before."""

    # -- Alerts (adapters.alerts) ------------------------------------------------------------
    @classmethod
    def alert_config_problem(cls, config: dict[str, Any]) -> str | None:
        """Why a target with this configuration cannot carry alerts, or None when it can."""
        return None if cls.carries_alerts else f"the {cls.name} adapter cannot carry alerts"

    def alert_requests(self, notice: AlertNotice) -> list[OutboundRequest]:
        """The requests that announce an alert transition at this target (``carries_alerts``)."""
        raise NotImplementedError

    def erasure_revocations(self, member_ids: list[str], context: DeliveryContext) -> int:
        """Revoke what the target holds for these erased members that no evidence rests on any
        more (a deleting retention removed it: the marketplace); how many. None by default."""
        return 0

    def erasure_requests(self, notice: ErasureNotice) -> list[OutboundRequest]:
        """The requests that tell the target a person was erased (``on_erasure: notify``); none
        by default (the target has no use for it)."""
        return []
