"""A fuzz run of the OpenAPI schema with schemathesis: whatever it sends, no answer is a 5xx,
every answer matches the schema, and the ledger stays sound.

Cases valid by the schema (positive) and cases that break it (negative) are generated from
/api/schema/ for every operation and sent in-process through the WSGI application with a valid
terminal key. ``FUZZ_EXAMPLES`` sets the cases per operation and mode (25 in the suite; a
nightly run takes a few hundred). schemathesis' own pytest plugin does not load under pytest 9
yet, so the operations are parametrised here and each runs a hypothesis test of its own.
"""

from __future__ import annotations

import functools
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from config.wsgi import application
from loyalty.reconciliation import ledger_violations

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@functools.cache
def api_schema():
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


def operations():
    return {result.ok().label: result.ok() for result in api_schema().get_all_operations()}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django closes "old" connections at the start and end of every request it serves, which
    on PostgreSQL would close the test's transaction; its test client switches that off, and
    so must a test that calls the WSGI application directly."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", sorted(operations()))
@pytest.mark.django_db
def test_no_request_gets_a_server_error(label, mode, raw_key):
    operation = operations()[label]
    headers = {"Authorization": f"Api-Key {raw_key}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    fuzz()
    assert not ledger_violations()
