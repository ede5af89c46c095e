"""A schema-driven fuzz run: schemathesis generates requests from the service's own OpenAPI
(the spec ``/docs.json`` serves) for every operation; none may end in a server error, and every
answer, the errors included, has a status code, media type and body the spec declares."""

from __future__ import annotations

import json
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.openapi import document
from serving.service import PredictionService
from tests.serving.conftest import ADMIN, ADMIN_PASSWORD, login

pytestmark = pytest.mark.slow
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))  # no .hypothesis/ in the checkout

SPEC = json.loads(json.dumps(document(PredictionService.openapi_spec.asdict())))
schema = schemathesis.openapi.from_dict(SPEC)


@pytest.fixture(scope="module")
def admin_token(service) -> dict[str, str]:
    return login(service, ADMIN, ADMIN_PASSWORD)


def test_the_fuzzed_spec_is_the_served_one(service):
    assert service.get("/docs.json").json() == SPEC


# One pytest item per operation, each with its own node id ("GET /api/models"): schemathesis'
# own ``schema.parametrize()`` gives all its items one node id, which pytest-xdist folds into one.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_server_error_for_any_generated_request(operation, service, admin_token):
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=40,
        derandomize=True,  # the same examples on every run (CI); raise max_examples to explore
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case):
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=admin_token)
        response = service.request(**kwargs)
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )

    check()


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) == sum(len(methods) for methods in SPEC["paths"].values()) >= 20
