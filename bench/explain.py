"""``EXPLAIN (ANALYZE, BUFFERS)`` of the SQL behind each query type.

The SQL is what ``lrs.statements.selectors.statement_list`` runs for the same parameters
the HTTP request had (parsed by the API's own ``statement_query_from_params``),
captured with ``CaptureQueriesContext``. Plans with a Seq Scan on a statements
table are flagged. Needs Django set up (``bench.django_env.setup_django``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEQ_SCAN = re.compile(r"Seq Scan on (lrs_statement\w*)")
EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


@dataclass
class PlanReport:
    name: str
    params: dict[str, str]
    plans: list[tuple[str, str]] = field(default_factory=list)  # (sql, plan text)

    @property
    def seq_scan_tables(self) -> list[str]:
        return sorted({table for _, plan in self.plans for table in SEQ_SCAN.findall(plan)})

    @property
    def execution_ms(self) -> list[float]:
        return [float(match) for _, plan in self.plans for match in EXECUTION.findall(plan)]

    def summary(self) -> dict[str, Any]:
        return {
            "queries": len(self.plans),
            "execution_ms": self.execution_ms,
            "seq_scan_tables": self.seq_scan_tables,
        }


def explain_query(name: str, params: dict[str, str]) -> PlanReport:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lrs.api.statement_params import statement_query_from_params
    from lrs.statements.selectors import statement_list

    query = statement_query_from_params(params, version="1.0.3", accept_language=None, credential_id=None)
    with CaptureQueriesContext(connection) as captured:
        statement_list(query)
    report = PlanReport(name=name, params=params)
    for item in captured.captured_queries:
        sql = item["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        report.plans.append((sql, plan))
    return report


def write_explain(reports: list[PlanReport], path: Path) -> None:
    lines: list[str] = []
    for report in reports:
        flag = f"  <-- SEQ SCAN on {', '.join(report.seq_scan_tables)}" if report.seq_scan_tables else ""
        lines += ["=" * 100, f"{report.name}{flag}", f"params: {report.params}", ""]
        for number, (sql, plan) in enumerate(report.plans, start=1):
            lines += [f"-- query {number}", sql, "", plan, ""]
    path.write_text("\n".join(lines) + "\n")
