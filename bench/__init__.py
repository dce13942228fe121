"""Benchmarks of the LRS: ingest and query figures measured against floors (see README.md)."""
