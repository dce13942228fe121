"""``GET /metrics``: Prometheus text exposition format (version 0.0.4).

Values are read from the database at scrape time, so they agree across all web
and worker processes: statements stored, deliveries by target and status,
attempts by outcome, the delivery lag histogram over the last hour, dead letters, and the
outbox batches still waiting for a worker to write their deliveries.
https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db.models import Case, Count, Min, Value, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from adapters.models import Attempt, Delivery, OutboxBatch, ReconciliationRun, Target
from adapters.ops.selectors import delivery_lag_histogram
from lrs.statements.models import Statement

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics() -> str:
    lines = [
        "# HELP lrs_statements_stored Statements in the store.",
        "# TYPE lrs_statements_stored gauge",
        f"lrs_statements_stored {Statement.objects.count()}",
        "# HELP lrs_deliveries Deliveries by target, kind and status.",
        "# TYPE lrs_deliveries gauge",
    ]
    # Grouped by target id, named afterwards: no join to the targets over every delivery.
    names = dict(Target.objects.values_list("id", "name"))
    by_status = Delivery.objects.values("target_id", "kind", "status").annotate(n=Count("id")).order_by()
    for row in by_status:
        lines.append(
            f'lrs_deliveries{{target="{_label(names.get(row["target_id"], row["target_id"]))}",'
            f'kind="{row["kind"]}",status="{row["status"]}"}} {row["n"]}'
        )
    lines += [
        "# HELP lrs_delivery_attempts_total Delivery attempts by target and outcome.",
        "# TYPE lrs_delivery_attempts_total counter",
    ]
    attempts = Attempt.objects.values("delivery__target_id", "outcome").annotate(n=Count("id")).order_by()
    for row in attempts:
        name = names.get(row["delivery__target_id"], row["delivery__target_id"])
        lines.append(
            f'lrs_delivery_attempts_total{{target="{_label(name)}",outcome="{row["outcome"]}"}} {row["n"]}'
        )
    dead = Delivery.objects.filter(status=Delivery.DEAD).count()
    lines += [
        "# HELP lrs_dead_letters Deliveries that gave up.",
        "# TYPE lrs_dead_letters gauge",
        f"lrs_dead_letters {dead}",
    ]
    outbox = OutboxBatch.objects.aggregate(batches=Count("id"), oldest=Min("created_at"))
    waiting = (timezone.now() - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0.0
    lines += [
        "# HELP lrs_outbox_batches Stored batches whose deliveries no worker has written yet.",
        "# TYPE lrs_outbox_batches gauge",
        f"lrs_outbox_batches {outbox['batches']}",
        "# HELP lrs_outbox_oldest_batch_age_seconds How long the oldest of them has waited.",
        "# TYPE lrs_outbox_oldest_batch_age_seconds gauge",
        f"lrs_outbox_oldest_batch_age_seconds {waiting:.3f}",
    ]
    lines += _target_state(names)
    lines += _reconciliation(names)
    lags = delivery_lag_histogram(LAG_BUCKETS)
    lines += [
        "# HELP lrs_delivery_lag_seconds Statement stored to delivered, deliveries of the last hour.",
        "# TYPE lrs_delivery_lag_seconds histogram",
    ]
    for bucket, count in lags.buckets:
        lines.append(f'lrs_delivery_lag_seconds_bucket{{le="{bucket}"}} {count}')
    lines += [
        f'lrs_delivery_lag_seconds_bucket{{le="+Inf"}} {lags.count}',
        f"lrs_delivery_lag_seconds_sum {lags.sum_seconds:.6f}",
        f"lrs_delivery_lag_seconds_count {lags.count}",
    ]
    return "\n".join(lines) + "\n"


def _target_state(names: dict[int, str]) -> list[str]:
    """Per target, what an operator looks at in an incident: whether it is paused, how long its
    oldest due delivery has waited, and its open deliveries never attempted apart from those
    retrying. Read through the open-delivery index (``delivery_open``), never the whole table."""
    now = timezone.now()
    paused = dict(Target.objects.values_list("id", "paused_until"))
    open_rows = Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING])
    oldest = dict(
        open_rows.filter(next_attempt_at__lte=now)
        .values("target_id")
        .annotate(oldest=Min("next_attempt_at"))
        .values_list("target_id", "oldest")
    )
    counts = {
        (target_id, tried): n
        for target_id, tried, n in open_rows.annotate(
            tried=Case(When(attempts=0, then=Value(False)), default=Value(True))
        )
        .values("target_id", "tried")
        .annotate(n=Count("id"))
        .values_list("target_id", "tried", "n")
    }
    lines = [
        "# HELP lrs_target_paused Whether the target's circuit breaker holds it paused (1) or not (0).",
        "# TYPE lrs_target_paused gauge",
    ]
    for target_id, name in sorted(names.items(), key=lambda item: item[1]):
        until = paused.get(target_id)
        lines.append(f'lrs_target_paused{{target="{_label(name)}"}} {int(until is not None and until > now)}')
    lines += [
        "# HELP lrs_oldest_due_delivery_age_seconds How long the target's oldest due delivery has waited.",
        "# TYPE lrs_oldest_due_delivery_age_seconds gauge",
    ]
    for target_id, name in sorted(names.items(), key=lambda item: item[1]):
        waited = (now - oldest[target_id]).total_seconds() if target_id in oldest else 0.0
        lines.append(f'lrs_oldest_due_delivery_age_seconds{{target="{_label(name)}"}} {max(0.0, waited):.3f}')
    lines += [
        "# HELP lrs_deliveries_open Open deliveries by target: never attempted, or retrying after one.",
        "# TYPE lrs_deliveries_open gauge",
    ]
    for target_id, name in sorted(names.items(), key=lambda item: item[1]):
        for state, tried in (("never_attempted", False), ("retrying", True)):
            count = counts.get((target_id, tried), 0)
            lines.append(f'lrs_deliveries_open{{target="{_label(name)}",state="{state}"}} {count}')
    return lines


def _reconciliation(names: dict[int, str]) -> list[str]:
    """Per target, the drift and delivery success of its latest finished reconciliation run."""
    latest: dict[int, tuple[float | None, float | None]] = {}
    finished = ReconciliationRun.objects.filter(finished_at__isnull=False, error="").order_by("-finished_at")
    for target_id in names:  # a few targets, each its latest run (no DISTINCT ON: SQLite too)
        row = finished.filter(target_id=target_id).values_list("drift_percent", "success_percent").first()
        if row is not None:
            latest[target_id] = row
    lines = [
        "# HELP lrs_reconciliation_drift_percent Drift of the target's latest reconciliation run.",
        "# TYPE lrs_reconciliation_drift_percent gauge",
    ]
    for target_id, (drift, _) in sorted(latest.items()):
        if drift is not None and target_id in names:
            lines.append(f'lrs_reconciliation_drift_percent{{target="{_label(names[target_id])}"}} {drift}')
    lines += [
        "# HELP lrs_reconciliation_success_percent Delivery success in the target's latest run.",
        "# TYPE lrs_reconciliation_success_percent gauge",
    ]
    for target_id, (_, success) in sorted(latest.items()):
        if success is not None and target_id in names:
            lines.append(
                f'lrs_reconciliation_success_percent{{target="{_label(names[target_id])}"}} {success}'
            )
    return lines


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.LRS_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
