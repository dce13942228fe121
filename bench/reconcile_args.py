"""Options of the reconciliation bench (``bash bench/run.sh --reconcile``), added to the bench's parser."""

from __future__ import annotations

import argparse


def add_reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reconciliation bench (--reconcile)")
    group.add_argument("--reconcile", action="store_true", help="run the reconciliation bench instead")
    group.add_argument("--reconcile-statements", type=int, default=200_000, help="statements in the window")
