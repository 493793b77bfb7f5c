"""The OpenAPI 3.1 document matches the management API: paths exist, responses fit the schemas."""

from __future__ import annotations

import jsonschema
import pytest

from tests.portal.test_management_api import NEW_BOT, Api, user_token


def schema_for(doc: dict, name: str) -> dict:
    """A component schema that can follow the document's own #/components references."""
    return {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}


def validate(doc: dict, name: str, instance: object) -> None:
    jsonschema.Draft202012Validator(
        schema_for(doc, name), format_checker=jsonschema.FormatChecker()
    ).validate(instance)


@pytest.fixture
def api(app, client, auth, user) -> Api:
    token, _ = user_token(app, client, auth, "openid apps:manage")
    return Api(app, token)


def test_openapi_document_is_public_and_3_1(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"][0]["url"].endswith("/api/v1")
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["App"])


def test_every_documented_operation_exists(app, api):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    cid = api("POST", "/apps", json=NEW_BOT).get_json()["client_id"]
    operations = [
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    ]
    assert len(operations) == 17
    bodies = {
        ("PATCH", "/apps/{client_id}"): {"name": "Renamed"},
        ("POST", "/apps"): {**NEW_BOT, "name": "Another"},
        ("POST", "/apps/{client_id}/members"): {"username": "nobody"},
        ("POST", "/apps/{client_id}/access-requests"): {
            "kind": "tier",
            "tier": "partner",
            "justification": "Needed for the launch.",
        },
    }
    absent = "999999"
    ids = {
        "{client_id}": cid,
        "{request_id}": absent,
        "{user_id}": absent,
        "{invitation_id}": absent,
    }
    for method, path in sorted(operations, key=lambda op: op[0] == "DELETE"):
        concrete = path
        for name, value in ids.items():
            concrete = concrete.replace(name, value)
        response = api(method, concrete, json=bodies.get((method, path)))
        if any(name in path for name in ("{request_id}", "{user_id}", "{invitation_id}")):
            # No such request, member or invitation: the route exists, the thing does not.
            body = response.get_json()
            assert body["error"] == "not_found", (method, path)
            assert body["message"] != "There is nothing at this address.", (method, path)
        else:
            assert response.status_code not in (404, 405), (method, path, response.get_json())
        documented = doc["paths"][path][method.lower()]["responses"]
        assert str(response.status_code) in documented, (method, path, response.status_code)


def test_sample_responses_validate_against_the_schemas(app, api):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    created = api("POST", "/apps", json=NEW_BOT).get_json()
    validate(doc, "AppWithSecret", created)
    cid = created["client_id"]
    validate(doc, "AppList", api("GET", "/apps").get_json())
    validate(doc, "App", api("GET", f"/apps/{cid}").get_json())
    validate(doc, "Rotated", api("POST", f"/apps/{cid}/rotate-secret").get_json())
    validate(doc, "App", api("POST", f"/apps/{cid}/revoke-old-secrets").get_json())
    validate(doc, "MemberList", api("GET", f"/apps/{cid}/members").get_json())
    validate(doc, "Invited", api("POST", f"/apps/{cid}/members", json={"username": "x"}).get_json())
    validate(doc, "InvitationList", api("GET", "/invitations").get_json())
    validate(doc, "Usage", api("GET", f"/apps/{cid}/usage").get_json())
    why = {"justification": "For the launch next week."}
    filed = api(
        "POST", f"/apps/{cid}/access-requests", json={"kind": "tier", "tier": "partner", **why}
    )
    validate(doc, "AccessRequest", filed.get_json())
    scopes = {"kind": "scopes", "scopes": ["revocations:read"], **why}
    validate(
        doc, "AccessRequest", api("POST", f"/apps/{cid}/access-requests", json=scopes).get_json()
    )
    validate(doc, "AccessRequestList", api("GET", f"/apps/{cid}/access-requests").get_json())
    withdrawn = api("POST", f"/apps/{cid}/access-requests/{filed.get_json()['id']}/withdraw")
    validate(doc, "AccessRequest", withdrawn.get_json())
    spa = {"name": "SPA", "app_type": "spa", "redirect_uris": ["http://127.0.0.1/cb"]}
    validate(doc, "AppWithSecret", api("POST", "/apps", json=spa).get_json())
    for error in (
        api("POST", "/apps", json={"name": 1, "app_type": "web"}),
        api("POST", "/apps", json={"name": "x", "app_type": "web"}),
        api("GET", "/apps/nope"),
        app.test_client().get("/api/v1/apps"),
    ):
        validate(doc, "Error", error.get_json())


def test_schema_rejects_a_wrong_response_shape(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    with pytest.raises(jsonschema.ValidationError):
        validate(doc, "App", {"client_id": "x"})
