"""Reads from the statement store: the query layer behind ``GET /xapi/statements``.

Everything that reads statements (the API, the admin, the fan-out adapters) goes
through here, so filters, voiding and formats mean the same everywhere.
xAPI 1.0.3 Communication 2.1.3:
https://github.com/adlnet/xAPI-Spec/blob/master/xAPI-Communication.md#213-get-statements
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from lrs.statements.bulk import STORING_APPLICATION_NAME
from lrs.statements.indexing import attachment_hashes
from lrs.statements.models import Statement, StatementActivity, StatementAgent, StatementRefChainExists
from lrs.xapi.formats import statement_canonical_format, statement_ids_format, statement_without_v2_properties
from lrs.xapi.json_fast import parse_stored

FORMATS = ("exact", "ids", "canonical")
CHAIN_PAGE = 500  # referring statements whose target refers on, checked at once


@dataclass(frozen=True)
class StatementQuery:
    """The parsed parameters of a statements query (all optional)."""

    agent_ifi: str | None = None
    verb_id: str | None = None
    activity_id: str | None = None
    registration: uuid.UUID | None = None
    related_agents: bool = False
    related_activities: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    ascending: bool = False
    format: str = "exact"
    attachments: bool = False
    languages: tuple[str, ...] = ()
    # The xAPI version of the client: 1.0.x clients get 2.0-only properties left out.
    version: str = "2.0.0"
    # Restricts to statements stored with this credential (scope statements/read/mine).
    credential_id: int | None = None
    # Paging position: (stored, pk) of the last statement of the previous page.
    after: tuple[datetime, int] | None = None

    @property
    def has_content_filter(self) -> bool:
        return any(
            value is not None for value in (self.agent_ifi, self.verb_id, self.activity_id, self.registration)
        )


@dataclass
class StatementPage:
    statements: list[str]  # JSON texts, in the requested format
    more_after: tuple[datetime, int] | None = None
    held_back: bool = False  # matches stored after ``through`` (statement_list): more to come
    statement_pks: list[int] = field(default_factory=list)
    attachment_sha2s: list[str] = field(default_factory=list)  # filled when query.attachments


def consistent_through() -> datetime:
    """The latest ``stored`` time up to which every statement is visible to queries.

    ``stored`` is taken when a batch's transaction starts, so a slow batch can commit statements
    older than ones already visible. On PostgreSQL none still uncommitted has ``stored`` before the
    start of the oldest open transaction storing statements (each takes its transaction id and
    mark, ``bulk.STORING_MARK``, before its ``stored``): an honest bound, no other write holds back.
    On SQLite a batch takes the write lock at BEGIN (config/settings.py) and its ``stored`` after:
    the time read holding that lock is as honest. Call it *before* running the query it describes."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            return timezone.now()
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # a transaction keeps its first read of pg_stat_activity,
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # blind to writers begun or ended since
        # The clock first, then the writers (read after, it could pass an unseen writer's stored).
        cursor.execute(
            "WITH c AS MATERIALIZED (SELECT clock_timestamp() AS now) SELECT c.now, (SELECT min(xact_start) "
            "FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL "
            "AND pid <> pg_backend_pid() AND application_name = %s) FROM c",
            [STORING_APPLICATION_NAME],
        )
        db_now, oldest_writer = cursor.fetchone()
    return min(db_now, oldest_writer) if oldest_writer is not None else db_now


def _agent_statements(ifi: str, *, related: bool) -> QuerySet:
    rows = StatementAgent.objects.filter(agent_ifi=ifi)
    if not related:
        rows = rows.filter(direct=True)
    return rows.values("statement_id")


def _activity_statements(activity_id: str, *, related: bool) -> QuerySet:
    rows = StatementActivity.objects.filter(activity_id=activity_id)
    if not related:
        rows = rows.filter(direct=True)
    return rows.values("statement_id")


def _content_filter(query: StatementQuery) -> Q:
    condition = Q()
    if query.verb_id is not None:
        condition &= Q(verb_id=query.verb_id)
    if query.registration is not None:
        condition &= Q(registration=query.registration)
    if query.agent_ifi is not None:
        condition &= Q(id__in=_agent_statements(query.agent_ifi, related=query.related_agents))
    if query.activity_id is not None:
        condition &= Q(id__in=_activity_statements(query.activity_id, related=query.related_activities))
    return condition


def _window_filter(query: StatementQuery) -> Q:
    condition = Q(voided=False)
    if query.since is not None:
        condition &= Q(stored__gt=query.since)
    if query.until is not None:
        condition &= Q(stored__lte=query.until)
    if query.credential_id is not None:
        condition &= Q(credential_id=query.credential_id)
    condition &= _cursor_condition(query, "stored", "id")
    return condition


def _ordered(queryset: QuerySet, ascending: bool) -> QuerySet:
    return queryset.order_by("stored", "id") if ascending else queryset.order_by("-stored", "-id")


def page_limit(requested: int) -> int:
    maximum = settings.LRS_STATEMENTS_MAX_PAGE_SIZE
    if requested <= 0:
        return min(settings.LRS_STATEMENTS_PAGE_SIZE, maximum)
    return min(requested, maximum)


def _cursor_condition(query: StatementQuery, stored_field: str, pk_field: str) -> Q:
    """Rows after the paging cursor. The range condition on ``stored`` alone lets the
    (…, stored, id) indexes start at the cursor; the OR then settles ties within one stored time."""
    if query.after is None:
        return Q()
    stored, pk = query.after
    if query.ascending:
        return Q(**{f"{stored_field}__gte": stored}) & (
            Q(**{f"{stored_field}__gt": stored}) | Q(**{f"{pk_field}__gt": pk})
        )
    return Q(**{f"{stored_field}__lte": stored}) & (
        Q(**{f"{stored_field}__lt": stored}) | Q(**{f"{pk_field}__lt": pk})
    )


def _index_driven(query: StatementQuery) -> QuerySet:
    """Agent/activity filters walk their index table in ``stored`` order (it carries a copy of
    ``stored``), so a page stops after ``limit`` rows instead of collecting every match first."""
    if query.agent_ifi is not None:
        rows = StatementAgent.objects.filter(agent_ifi=query.agent_ifi)
        if not query.related_agents:
            rows = rows.filter(direct=True)
        if query.activity_id is not None:
            rows = rows.filter(
                statement_id__in=_activity_statements(query.activity_id, related=query.related_activities)
            )
    else:
        rows = StatementActivity.objects.filter(activity_id=query.activity_id)
        if not query.related_activities:
            rows = rows.filter(direct=True)
    condition = Q(statement__voided=False) & _cursor_condition(query, "stored", "statement_id")
    if query.since is not None:
        condition &= Q(stored__gt=query.since)
    if query.until is not None:
        condition &= Q(stored__lte=query.until)
    if query.credential_id is not None:
        condition &= Q(statement__credential_id=query.credential_id)
    if query.verb_id is not None:
        condition &= Q(statement__verb_id=query.verb_id)
    if query.registration is not None:
        condition &= Q(statement__registration=query.registration)
    order = ("stored", "statement_id") if query.ascending else ("-stored", "-statement_id")
    return rows.filter(condition).order_by(*order).values_list("stored", "statement_id")


def _direct_keys(query: StatementQuery, limit: int) -> list[tuple[datetime, int]]:
    if query.agent_ifi is not None or query.activity_id is not None:
        return list(_index_driven(query)[: limit + 1])
    rows = Statement.objects.filter(_window_filter(query) & _content_filter(query))
    return list(_ordered(rows, query.ascending).values_list("stored", "id")[: limit + 1])


def _content_filter_correlated(query: StatementQuery) -> Q:
    """The content filter for one statement checked at a time (agent/activity as EXISTS on the
    statement's own index rows), so that PostgreSQL probes each candidate instead of building
    the whole matching set. A StatementRef target counts only if the credential may read it."""
    condition = Q() if query.credential_id is None else Q(credential_id=query.credential_id)
    if query.verb_id is not None:
        condition &= Q(verb_id=query.verb_id)
    if query.registration is not None:
        condition &= Q(registration=query.registration)
    if query.agent_ifi is not None:
        agents = StatementAgent.objects.filter(statement_id=OuterRef("id"), agent_ifi=query.agent_ifi)
        condition &= Q(Exists(agents if query.related_agents else agents.filter(direct=True)))
    if query.activity_id is not None:
        activities = StatementActivity.objects.filter(
            statement_id=OuterRef("id"), activity_id=query.activity_id
        )
        condition &= Q(Exists(activities if query.related_activities else activities.filter(direct=True)))
    return condition


def _referring_keys(query: StatementQuery, limit: int, direct: list[tuple[datetime, int]]) -> list:
    """Statements whose StatementRef targets a matching statement, or one that does, and so on
    (2.1.3: "applies recursively"; voided targets too), walked in page order (``stmt_refs_stored``)
    up to ``limit + 1`` and not past a full page of direct matches."""
    referring = Statement.objects.filter(_window_filter(query), object_statement_id__isnull=False)
    if len(direct) > limit:
        boundary = direct[-1][0]
        referring = referring.filter(**{"stored__lte" if query.ascending else "stored__gte": boundary})
    matching = Statement.objects.filter(_content_filter_correlated(query))
    straight = referring.filter(Exists(matching.filter(statement_id=OuterRef("object_statement_id"))))
    found = set(_ordered(straight, query.ascending).values_list("stored", "id")[: limit + 1])
    return sorted(found | set(_chained_keys(query, limit, referring, matching)), reverse=not query.ascending)


def _chained_keys(query: StatementQuery, limit: int, referring: QuerySet, matching: QuerySet) -> list:
    """Those whose target refers on (``stmt_refs_by_id``; usually none), a page at a time, each
    page's chains followed (``StatementRefChainExists``) apart: planned together, PostgreSQL
    followed every referring statement's chain before asking whether its target refers on."""
    found: list[tuple[datetime, int]] = []
    refers_on = Statement.objects.filter(object_statement_id__isnull=False).values("statement_id")
    candidates = _ordered(referring.filter(object_statement_id__in=refers_on), query.ascending)
    chain = StatementRefChainExists(F("object_statement_id"), matching, credential_id=query.credential_id)
    for start in itertools.count(0, CHAIN_PAGE):
        page = list(candidates.values_list("stored", "id")[start : start + CHAIN_PAGE])
        ids = set(Statement.objects.filter(chain, id__in=[pk for _, pk in page]).values_list("id", flat=True))
        found += [key for key in page if key[1] in ids]
        if len(page) < CHAIN_PAGE or len(found) > limit:
            return found
    return found


def statement_list(query: StatementQuery, *, through: datetime | None = None) -> StatementPage:
    """One page of statements matching ``query``, newest first unless ``ascending``.

    Statements whose object is a StatementRef to a matching statement match too
    (Communication 2.1.3, "Filter Conditions for StatementRefs"); that second,
    small query runs over the partial index of referring statements.
    ``through`` (ascending only; the ``consistent_through`` read before): an ascending page stops
    there. A slow batch commits statements stored before ones already visible, so a walk past
    ``through`` could leave one behind it for good; what matches later is ``held_back``.
    """
    limit = page_limit(query.limit)
    keys = _direct_keys(query, limit)
    if query.has_content_filter:
        extra = _referring_keys(query, limit, keys)
        if extra:
            keys = sorted(set(keys) | set(extra), reverse=not query.ascending)[: limit + 1]
    if through is not None and query.ascending:  # ascending: those stored after it come last
        in_order = [key for key in keys if key[0] <= through]
        held_back, keys = len(in_order) < len(keys), in_order
    else:
        held_back = False
    more_after = (keys[-1] if keys else query.after) if held_back else None
    if len(keys) > limit:
        keys = keys[:limit]
        more_after = keys[-1]
    pks = [pk for _stored, pk in keys]
    payloads = dict(Statement.objects.filter(id__in=pks).values_list("id", "payload")) if pks else {}
    ordered_payloads = [payloads[pk] for pk in pks]
    render = payload_renderer(query)
    return StatementPage(
        statements=[render(payload) for payload in ordered_payloads],
        more_after=more_after,
        held_back=held_back,
        statement_pks=pks,
        attachment_sha2s=attachment_hashes(ordered_payloads) if query.attachments else [],
    )


def payload_renderer(query: StatementQuery) -> Callable[[str], str]:
    """Stored JSON text -> the text served: as stored for ``exact`` (no re-serialisation on the
    hot path), reduced for ``ids``/``canonical``, and 2.0-only properties dropped for 1.0.x clients."""
    downgrade = not query.version.startswith("2.")
    if query.format == "ids":
        transform: Callable[[dict], dict] = statement_ids_format
    elif query.format == "canonical":
        languages = list(query.languages)

        def transform(statement: dict) -> dict:
            return statement_canonical_format(statement, languages)
    else:
        transform = None  # type: ignore[assignment]

    def render(payload: str) -> str:
        needs_downgrade = downgrade and ('"contextAgents"' in payload or '"contextGroups"' in payload)
        if transform is None and not needs_downgrade:
            return payload
        statement = json.loads(payload)
        if needs_downgrade:
            statement = statement_without_v2_properties(statement)
        if transform is not None:
            statement = transform(statement)
        return json.dumps(statement, ensure_ascii=False)

    return render


def statement_get(
    *, statement_id: uuid.UUID, voided: bool, query: StatementQuery | None = None
) -> tuple[str, Statement] | None:
    """One statement by id, or None. ``voided=True`` serves ``voidedStatementId`` requests:
    it finds the statement only when it has been voided, and ``voided=False`` only when not."""
    query = query or StatementQuery()
    rows = Statement.objects.filter(statement_id=statement_id, voided=voided)
    if query.credential_id is not None:
        rows = rows.filter(credential_id=query.credential_id)
    row = rows.only("id", "stored", "payload").first()
    if row is None:
        return None
    return payload_renderer(query)(row.payload), row


def statements_by_pk(
    pks: list[int], *, query: StatementQuery | None = None, live_only: bool = False
) -> list[dict]:
    """Statements (as ``GET /statements`` would serve them, voided ones included unless
    ``live_only``) by primary key, for the fan-out: adapters never read raw model fields."""
    by_pk = statements_keyed_by_pk(pks, query=query, live_only=live_only)
    return [by_pk[pk] for pk in pks if pk in by_pk]


def statements_keyed_by_pk(
    pks: Iterable[int], *, query: StatementQuery | None = None, live_only: bool = False
) -> dict[int, dict]:
    """``statements_by_pk`` keyed by primary key (deleted ones absent, voided ones with ``live_only``)."""
    render = payload_renderer(query or StatementQuery())
    rows = Statement.objects.filter(id__in=list(pks))
    if live_only:
        rows = rows.filter(voided=False)
    # Pairs, not model instances: building a deferred instance per row cost more than parsing it.
    return {pk: parse_stored(render(payload)) for pk, payload in rows.values_list("id", "payload")}


def live_statement_pks(pks: Iterable[int]) -> set[int]:
    """Which of these statements are live: still stored and not voided."""
    return set(Statement.objects.filter(id__in=list(pks), voided=False).values_list("id", flat=True))


def voided_by(pks: Iterable[int]) -> dict[int, str]:
    """For each of these statements that is voided: the id of the statement that voided it."""
    voided = dict(Statement.objects.filter(id__in=list(pks), voided=True).values_list("statement_id", "id"))
    if not voided:
        return {}
    voiding = Statement.objects.filter(is_voiding=True, object_statement_id__in=list(voided)).values_list(
        "object_statement_id", "statement_id"
    )
    return {voided[target]: str(voiding_id) for target, voiding_id in voiding}


def statement_window_count(query: StatementQuery) -> int:
    """How many live statements lie in ``query``'s stored-time window after its cursor (content
    filters ignored): the total of a walk through that window, e.g. a backfill's progress."""
    return Statement.objects.filter(_window_filter(query)).count()


def stored_by_statement_id(statement_ids: Iterable[str]) -> dict[str, tuple[int, datetime, bool]]:
    """For each of these statement ids that is stored: (primary key, stored, voided)."""
    ids = []
    for value in statement_ids:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:  # a target may report ids we never gave: they are simply not ours
            continue
    rows = Statement.objects.filter(statement_id__in=ids).values_list(
        "statement_id", "id", "stored", "voided"
    )
    return {str(statement_id): (pk, stored, voided) for statement_id, pk, stored, voided in rows}


def with_cursor(query: StatementQuery, after: tuple[datetime, int]) -> StatementQuery:
    return replace(query, after=after)


def statement_pks_with_actor(ifis: Iterable[str], *, limit: int) -> list[int]:
    """Keys of statements filed under one of these IFIs, newest first: through the agent index."""
    return list(
        StatementAgent.objects.filter(agent_ifi__in=list(ifis), direct=True)
        .order_by("-stored")
        .values_list("statement_id", flat=True)[:limit]
    )
