"""Identity: which HRIS employee an xAPI actor is. ``resolution`` (actor -> employee id, or held),
``links`` (an employee's identifiers: upsert, CSV import), ``holds`` (held deliveries, their
release when a link appears, the conflict report), ``api`` (the identity HTTP API).

May import: the contract modules of ``adapters``, ``adapters.rules``, ``adapters.delivery.queue``
(to queue released deliveries), ``lrs.xapi`` and ``lrs``'s credentials and auth. Never a target
package, ``ops`` or ``admin``.
"""
