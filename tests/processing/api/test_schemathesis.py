"""A fuzz run of the OpenAPI schema with schemathesis: whatever it sends, no answer is a 5xx,
every answer matches the schema, and the ledger stays sound.

Cases valid by the schema (positive) and cases that break it (negative) are generated from
/api/schema/ for every operation and sent in-process through the WSGI application with a valid
terminal key. ``FUZZ_EXAMPLES`` sets the cases per operation and mode (25 in the suite; a
nightly run takes a few hundred). The request examples of the schema (bodies and parameters,
processing/api/examples.py) are sent too, as schemathesis' explicit examples phase builds them.
schemathesis' own pytest plugin does not load under pytest 9 yet, so the operations are
parametrised here and each runs a hypothesis test of its own.
"""

from __future__ import annotations

import functools
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
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


@pytest.mark.parametrize("label", sorted(operations()))
@pytest.mark.django_db
def test_the_schemas_examples_get_no_server_error(label, raw_key):
    """schemathesis' explicit examples phase: one case per example combination of the
    operation (``get_strategies_from_examples``, what its examples phase sends)."""
    operation = operations()[label]
    headers = {"Authorization": f"Api-Key {raw_key}"}
    strategies = operation.get_strategies_from_examples()
    assert strategies, f"{label}: the schema gives no request example"
    documented = _documented_examples(label)
    sent = []

    for strategy in strategies:

        @given(case=strategy)
        @settings(
            max_examples=1,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def send(case):
            sent.append(case)
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        send()

    assert len(sent) == len(strategies)
    # every documented example was among them, as documented (property-level examples of
    # the schema, such as spend_points', add cases of their own)
    for body in documented["body"]:
        assert body in [case.body for case in sent], (label, body)
    for location, container in (("path", "path_parameters"), ("query", "query")):
        for name, values in documented[location].items():
            for value in values:
                assert value in [getattr(case, container)[name] for case in sent], (label, value)
    assert not ledger_violations()


def _documented_examples(label: str) -> dict:
    """The example values the schema gives an operation: its bodies and, by name, its path
    and query parameters."""
    operation = operations()[label].definition.raw
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    found = {"body": [e["value"] for e in content.get("examples", {}).values()]}
    for location in ("path", "query"):
        found[location] = {
            parameter["name"]: [e["value"] for e in parameter.get("examples", {}).values()]
            for parameter in operation.get("parameters", [])
            if parameter["in"] == location and parameter.get("examples")
        }
    return found
