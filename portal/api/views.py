"""Management API (/api/v1/apps): the developer portal's app operations as JSON.

Bearer-authenticated (portal.api.auth), so CSRF does not apply; every lookup is scoped to the
token's user through idp.services.apps, so another developer's app is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from idp.domain.clients import APP_TYPES
from idp.errors import FieldErrors
from idp.extensions import csrf
from idp.services import app_admin, apps
from idp.services.app_specs import ClientSpec
from idp.services.personal_tokens import MANAGE, READ
from idp.web.context import caller, tessera, uow
from portal.api.auth import authenticate
from portal.api.body import Field, check_fields, read_json
from portal.api.errors import (
    ApiError,
    api_error_response,
    field_errors_response,
    http_error_response,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
bp.register_error_handler(ApiError, api_error_response)
bp.register_error_handler(FieldErrors, field_errors_response)
bp.register_error_handler(413, http_error_response)
bp.register_error_handler(400, http_error_response)

OPENAPI = Path(__file__).with_name("openapi.json")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_DETAILS = {
    "name": Field("string"),
    "description": Field("string"),
    "homepage_url": Field("string"),
    "privacy_url": Field("string"),
    "tos_url": Field("string"),
    "redirect_uris": Field("string_list"),
    "post_logout_redirect_uris": Field("string_list"),
    "scopes": Field("string_list"),
}
CREATE = {**_DETAILS, "name": Field("string", required=True), "app_type": Field("string", True)}
UPDATE = _DETAILS
ROTATE = {"grace_seconds": Field("integer", minimum=0, maximum=7 * 86400)}


def resource(rule: str, endpoint: str, handlers: dict[str, Callable[..., Any]]) -> None:
    """One URL, its methods dispatched here so a wrong method gets the API's JSON 405."""

    def view(**kwargs: Any) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = handlers.get(method)
        if handler is None:
            allow = ", ".join(sorted(handlers))
            raise ApiError(
                405, "method_not_allowed", f"Use one of: {allow}.", headers={"Allow": allow}
            )
        # Reading needs apps:read (which apps:manage includes); anything else apps:manage.
        response = handler(authenticate(READ if method == "GET" else MANAGE), **kwargs)
        response.headers["Cache-Control"] = "no-store"
        return response

    bp.add_url_rule(rule, endpoint, view, methods=METHODS, provide_automatic_options=False)


def found_app(user: Any, client_id: str) -> apps.MyApp:
    found = apps.app_for_user(uow(), user.id, client_id)
    if found is None:
        raise ApiError(404, "not_found", "You have no app with this client_id.")
    return found


def app_json(found: apps.MyApp) -> dict[str, Any]:
    client = found.client
    rate = app_admin.limits_of(tessera().catalogue, client)
    return {
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "app_type": client.app_type,
        "confidential": APP_TYPES[client.app_type].confidential,
        "grant_types": list(client.grant_types or []),
        "homepage_url": client.homepage_url,
        "privacy_url": client.privacy_url,
        "tos_url": client.tos_url,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "scopes": list(client.allowed_scopes or []),
        "rate_limit": {
            "tier": client.tier,
            "rps": rate.rps,
            "burst": rate.burst,
        },
        "logo_url": url_for("public.client_logo", client_id=client.client_id, _external=True),
        "role": found.role,
        "suspended": client.suspended_at is not None,
        "secrets": [
            {
                "created_at": s.created_at.isoformat(),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for s in sorted(client.secrets, key=lambda s: s.created_at)
        ],
        "created_at": client.created_at.isoformat(),
        "updated_at": client.updated_at.isoformat(),
    }


def list_apps(user: Any) -> Response:
    return jsonify({"apps": [app_json(a) for a in apps.apps_for_user(uow(), user.id)]})


def create_app(user: Any) -> Response:
    body = check_fields(read_json(), CREATE)
    with uow() as work:
        client, secret = apps.create_client(
            work, tessera().catalogue, caller(), ClientSpec(**body), owner_id=user.id
        )
    response = jsonify({**app_json(apps.MyApp(client, apps.OWNER)), "client_secret": secret})
    response.status_code = 201
    response.headers["Location"] = url_for("api.app", client_id=client.client_id)
    return response


def show_app(user: Any, client_id: str) -> Response:
    return jsonify(app_json(found_app(user, client_id)))


def update_app(user: Any, client_id: str) -> Response:
    found = found_app(user, client_id)
    body = check_fields(read_json(), UPDATE)
    with uow() as work:
        apps.update_app(work, tessera().catalogue, caller(), found.client, user.id, **body)
    return jsonify(app_json(found))


def delete_app(user: Any, client_id: str) -> Response:
    found = found_app(user, client_id)
    if not found.is_owner:
        raise ApiError(403, "forbidden", "Only an owner of the app can delete it.")
    with uow() as work:
        apps.delete_client(work, tessera().revocation_window, caller(), found.client)
    return Response(status=204)


def rotate_secret(user: Any, client_id: str) -> Response:
    found = found_app(user, client_id)
    body = check_fields(read_json(optional=True), ROTATE)
    grace = body.get("grace_seconds", 3600)
    with uow() as work:
        secret = apps.rotate_secret(work, caller(), found.client, grace)
    return jsonify({**app_json(found), "client_secret": secret, "grace_seconds": grace})


def revoke_old_secrets(user: Any, client_id: str) -> Response:
    found = found_app(user, client_id)
    with uow() as work:
        apps.revoke_old_secrets(work, caller(), found.client)
    return jsonify(app_json(found))


resource("/apps", "apps", {"GET": list_apps, "POST": create_app})
resource("/apps/<client_id>", "app", {"GET": show_app, "PATCH": update_app, "DELETE": delete_app})
resource("/apps/<client_id>/rotate-secret", "rotate_secret", {"POST": rotate_secret})
resource("/apps/<client_id>/revoke-old-secrets", "revoke_old", {"POST": revoke_old_secrets})


@bp.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    """The API's OpenAPI 3.1 description; public, like any API reference."""
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    doc["servers"] = [{"url": url_for("api.apps", _external=True).rsplit("/apps", 1)[0]}]
    return jsonify(doc)


@bp.route("/<path:anything>", methods=METHODS, provide_automatic_options=False)
@bp.route("/", defaults={"anything": ""}, methods=METHODS, provide_automatic_options=False)
def unknown(anything: str) -> Response:
    raise ApiError(404, "not_found", "There is nothing at this address.")
