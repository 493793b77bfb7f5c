"""Schemathesis over the management API's OpenAPI document (issue 12 item 11).

Every documented operation gets requests that fit its schema (positive) and requests that break
it (negative), sent to the WSGI app with a real personal access token (apps:manage), on both
databases. Any 5xx fails, and so does an answer the document does not describe: an undocumented
status, a body that does not fit its schema, a valid request refused or an invalid one
accepted. Fixed seed (derandomize) and FUZZ_EXAMPLES examples (default 40) per operation and
mode.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.portal.test_management_api import NEW_BOT, Api
from tests.portal.test_personal_tokens import make_pat

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
# A schema-valid body may still be refused as a whole (422 invalid_app: a web app needs a
# redirect URI, a scope must exist and suit the app type): rules JSON Schema does not carry.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": [200, 201, 202, 204, 404, 409, 422]}
        }
    }
)
OPERATIONS = [
    ("GET", "/apps"),
    ("POST", "/apps"),
    ("GET", "/apps/{client_id}"),
    ("PATCH", "/apps/{client_id}"),
    ("POST", "/apps/{client_id}/rotate-secret"),
    ("POST", "/apps/{client_id}/revoke-old-secrets"),
    ("GET", "/apps/{client_id}/access-requests"),
    ("POST", "/apps/{client_id}/access-requests"),
    ("POST", "/apps/{client_id}/access-requests/{request_id}/withdraw"),
    ("GET", "/apps/{client_id}/members"),
    ("POST", "/apps/{client_id}/members"),
    ("DELETE", "/apps/{client_id}/members/{user_id}"),
    ("GET", "/apps/{client_id}/usage"),
    ("GET", "/invitations"),
    ("POST", "/invitations/{invitation_id}/accept"),
    ("POST", "/invitations/{invitation_id}/decline"),
    ("DELETE", "/apps/{client_id}"),
]


@pytest.fixture
def api_under_test(app, client, auth, user):
    """(schema, Authorization header, an app of the token's user for path parameters)."""
    assert auth.login().status_code == 303
    token = make_pat(client)
    created = Api(app, token)("POST", "/apps", json=NEW_BOT)
    assert created.status_code == 201, created.get_json()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    return schema, {"Authorization": f"Bearer {token}"}, created.get_json()["client_id"]


def test_openapi_document_is_a_valid_schemathesis_schema(api_under_test):
    schema, _, _ = api_under_test
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted((op.method.upper(), op.path) for op in operations) == sorted(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_management_api_matches_its_openapi_document(api_under_test, method, path, mode):
    schema, headers, client_id = api_under_test
    operation = schema[path][method]
    known = {"client_id": client_id} if "{client_id}" in path else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=known)

    @FUZZ_SETTINGS
    @given(case=strategy)
    def run(case):
        case.call_and_validate(headers=headers)

    run()
