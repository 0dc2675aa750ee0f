"""The management API described as an OpenAPI 3.1 document.

Paths and who may call them come from the route table (``tollgate.permissions.ROUTES``, which
a test holds equal to template.yaml); bodies, parameters and answers from each area module's
``OPERATIONS`` and ``SCHEMAS``. The integration suite checks every answer a management handler
gives against this document (tests/support/management_openapi.py), so it cannot drift from
the handlers unnoticed.
"""
