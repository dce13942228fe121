"""The paging property on SQLite, the quickstart's embedded database: there ``stored`` comes from
the process's clock instead of PostgreSQL's, and every query runs through SQLite's planner. Run as
pytest in a subprocess (the suite itself runs on PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.sqlite
def test_the_paging_property_holds_on_sqlite(tmp_path):
    if connection.vendor == "sqlite":
        pytest.skip("already running on SQLite: test_paging_properties.py is the test")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(LRS_ENV="test", DATABASE_URL=f"sqlite:///{tmp_path / 'lrs.sqlite3'}")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-x",
            "tests/lrs/api/query/test_paging_properties.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
