"""The API description: one OpenAPI 3 document for the xAPI resources and the DRF APIs.

drf-spectacular generates the identity and privacy APIs from their views; the xAPI resources are
plain Django views, so their description is kept by hand in ``xapi.yaml`` (checked against the
URL routes and the methods each view serves by tests/config/test_openapi.py) and merged in by a
postprocessing hook (``schema.merge_xapi_paths``). Served at ``/api/schema/`` with Swagger UI at
``/api/docs/`` (config/urls.py).
"""
