"""Gauges read from the database at scrape time: what is waiting, parked or paused right now.

The same in every process (they are the database's), so only the web's ``/metrics`` exports them,
never a worker's. Each query reads through an index that holds only the rows it counts
(``delivery_due``, status first, holds every row not delivered: pending, in-flight, retrying,
held, unknown, dead and the few cancelled ones, never the delivered bulk; ``delivery_open`` for
the oldest due), the outbox (a
handful of rows unless workers are down) and the targets: never the whole deliveries, attempts
or statements table, however big they grow. Totals and rates are counters instead
(``adapters.ops.instruments``).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Case, Count, Min, Value, When
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapters.models import Delivery, OutboxBatch, ReconciliationRun, Target

UNSETTLED = (
    Delivery.PENDING,
    Delivery.IN_FLIGHT,
    Delivery.RETRYING,
    Delivery.HELD,
    Delivery.UNKNOWN,
    Delivery.DEAD,
)


class StoreCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        targets = list(Target.objects.values_list("id", "name", "paused_until"))
        names = {target_id: name for target_id, name, _ in targets}
        yield from self._by_status(names)
        yield from self._open(names, now)
        paused = GaugeMetricFamily(
            "lrs_target_paused",
            "Whether the target's circuit breaker holds it paused (1) or not (0).",
            labels=["target"],
        )
        for _, name, until in sorted(targets, key=lambda row: row[1]):
            paused.add_metric([name], int(until is not None and until > now))
        yield paused
        outbox = OutboxBatch.objects.aggregate(batches=Count("id"), oldest=Min("created_at"))
        waiting = (now - outbox["oldest"]).total_seconds() if outbox["oldest"] else 0.0
        yield GaugeMetricFamily(
            "lrs_outbox_batches",
            "Stored batches whose deliveries no worker has written yet.",
            value=outbox["batches"],
        )
        yield GaugeMetricFamily(
            "lrs_outbox_oldest_batch_age_seconds", "How long the oldest of them has waited.", value=waiting
        )
        yield from self._reconciliation(names)

    def _by_status(self, names: dict[int, str]) -> Iterator[GaugeMetricFamily]:
        rows = (
            Delivery.objects.filter(status__in=UNSETTLED)
            .values("target_id", "status")
            .annotate(n=Count("id"))
            .values_list("target_id", "status", "n")
            .order_by()
        )
        counts = {(target_id, status): n for target_id, status, n in rows}
        family = GaugeMetricFamily(
            "lrs_deliveries_unsettled",
            "Deliveries neither delivered nor cancelled, by target and status "
            "(pending, in_flight, retrying, held, unknown, dead).",
            labels=["target", "status"],
        )
        for target_id, name in sorted(names.items(), key=lambda item: item[1]):
            for status in UNSETTLED:
                family.add_metric([name, status], counts.get((target_id, status), 0))
        yield family
        yield GaugeMetricFamily(
            "lrs_dead_letters",
            "Deliveries that gave up, all targets.",
            value=sum(n for (_, status), n in counts.items() if status == Delivery.DEAD),
        )

    def _open(self, names: dict[int, str], now) -> Iterator[GaugeMetricFamily]:
        """Per target: how long its oldest due delivery has waited, and its open deliveries
        never attempted apart from those retrying (through ``delivery_open``)."""
        open_rows = Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.RETRYING])
        oldest = dict(
            open_rows.filter(next_attempt_at__lte=now)
            .values("target_id")
            .annotate(oldest=Min("next_attempt_at"))
            .values_list("target_id", "oldest")
            .order_by()
        )
        counts = {
            (target_id, tried): n
            for target_id, tried, n in open_rows.annotate(
                tried=Case(When(attempts=0, then=Value(False)), default=Value(True))
            )
            .values("target_id", "tried")
            .annotate(n=Count("id"))
            .values_list("target_id", "tried", "n")
            .order_by()
        }
        age = GaugeMetricFamily(
            "lrs_oldest_due_delivery_age_seconds",
            "How long the target's oldest due delivery has waited.",
            labels=["target"],
        )
        waiting = GaugeMetricFamily(
            "lrs_deliveries_open",
            "Open deliveries by target: never attempted, or retrying after one.",
            labels=["target", "state"],
        )
        for target_id, name in sorted(names.items(), key=lambda item: item[1]):
            waited = (now - oldest[target_id]).total_seconds() if target_id in oldest else 0.0
            age.add_metric([name], max(0.0, waited))
            for state, tried in (("never_attempted", False), ("retrying", True)):
                waiting.add_metric([name, state], counts.get((target_id, tried), 0))
        yield age
        yield waiting

    def _reconciliation(self, names: dict[int, str]) -> Iterator[GaugeMetricFamily]:
        """Per target, the drift and delivery success of its latest finished reconciliation run."""
        drift = GaugeMetricFamily(
            "lrs_reconciliation_drift_percent",
            "Drift of the target's latest reconciliation run.",
            labels=["target"],
        )
        success = GaugeMetricFamily(
            "lrs_reconciliation_success_percent",
            "Delivery success in the target's latest run.",
            labels=["target"],
        )
        finished = ReconciliationRun.objects.filter(finished_at__isnull=False, error="").order_by(
            "-finished_at"
        )
        for target_id, name in sorted(names.items(), key=lambda item: item[1]):
            # A few targets, each its latest run (no DISTINCT ON: SQLite too).
            row = finished.filter(target_id=target_id).values_list("drift_percent", "success_percent").first()
            if row is None:
                continue
            if row[0] is not None:
                drift.add_metric([name], row[0])
            if row[1] is not None:
                success.add_metric([name], row[1])
        yield drift
        yield success
