"""Unit tests of the pure rules in ``adapters.rules`` (no Django, no database)."""
