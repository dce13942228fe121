"""The fan-out: stored statements become effects in downstream systems, through adapters.

The rooms (README, "Where things live", has the table):

- this folder's modules: the adapter contract and the one HTTP seam: ``base`` (``Adapter``,
  ``DeliveryContext``, ``DeliveryHeld``), ``outbound`` (request, result and error types),
  ``http`` (the seam), ``oauth`` (client credentials), ``registry``, ``secrets`` (secret
  references), ``config`` (a target's configuration against its adapter), ``correlation`` (the
  request id carried into deliveries), ``models`` (every table of the app), ``apps``;
- ``webhook/ pms/ marketplace/ slack/ msteams/``: one package per target kind;
- ``rules/``: pure translation rules, no Django;
- ``targets/``: the configured targets: the targets file, the enabled-targets cache, the check;
- ``delivery/``: the engine: outbox, queueing, sending, retries, voiding, replay, sweep, tasks;
- ``identity/``: actor -> employee: resolution, links, holds and release, the identity API;
- ``ops/``: metrics and the reads behind them;
- ``admin/``: the Django admin of all of the above.

``lrs`` never imports from here; this app depends on ``lrs`` (its query layer, signals and bulk
writes), never the reverse.
"""
