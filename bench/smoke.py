"""One POST and one GET before measuring anything: a broken LRS stops the bench at once."""

from __future__ import annotations

import json

from bench.loadgen import Target, request_once
from bench.statements import StatementFactory, Universe


def smoke_check(target: Target) -> None:
    statement = StatementFactory(Universe.build(), seed=424242).statement()
    conn = target.connect()
    try:
        headers = {**target.headers, "Content-Type": "application/json"}
        status, body = request_once(conn, "POST", "/xapi/statements", json.dumps(statement).encode(), headers)
        if status != 200:
            raise SystemExit(f"bench: POST /xapi/statements answered {status}: {body[:500]!r}")
        status, body = request_once(
            conn, "GET", f"/xapi/statements?statementId={statement['id']}", None, target.headers
        )
        if status != 200:
            raise SystemExit(f"bench: GET /xapi/statements?statementId= answered {status}: {body[:500]!r}")
        status, body = request_once(conn, "POST", "/bench/floor", json.dumps(statement).encode(), headers)
        if status != 200:
            raise SystemExit(f"bench: POST /bench/floor answered {status}: {body[:500]!r}")
    finally:
        conn.close()
