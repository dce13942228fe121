"""Alerts: the LRS tells someone when what it holds and what the targets hold drift apart, or
deliveries go wrong. ``rules`` defines each rule (figure, threshold setting, which side is bad);
``figures`` reads a target's current figures (dead letters in the last hour, delivery lag p95,
minutes paused, delivery success, held share, the last reconciliation's drift); ``evaluate``
updates each (rule, target) ``Alert`` with hysteresis (raised at once, cleared only after the figure
stayed within the threshold for ``LRS_ALERT_CLEAR_AFTER`` evaluations) and ``notify`` sends each
transition, once, to every alert target (``Target.receives``: any adapter that ``carries_alerts``)
through the adapter's ``alert_requests``, recording every attempt; ``tasks`` is the beat task.

May import: the contract modules of ``adapters`` (base, registry, secrets, models), ``adapters.ops``
(the reads behind the metrics) and ``lrs``. Never a target package, ``delivery``, ``admin``.
"""
