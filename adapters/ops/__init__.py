"""Operations: what an operator reads about the fan-out: ``metrics`` (``GET /metrics``,
Prometheus text) and ``selectors`` (target health, delivery lag) that the metrics and the admin
read.

May import: ``adapters.models`` and ``lrs`` models. Never the delivery engine (ops reads, it does
not act), a target package or ``admin``.
"""
