"""Tests of the fan-out engine (package ``adapters``) against real processes: Redis, Celery, HTTP."""
