"""Management API beyond an app's registration: access requests, members, invitations, usage.

The same use cases as the portal's pages (idp.services.access_requests, app_members,
app_usage), so the API holds to the same rules: any member may file or withdraw a request, only
an owner changes members, only the invitee answers an invitation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from flask import Response, jsonify, url_for

from idp.errors import FieldErrors
from idp.services import access_requests, app_members, app_usage
from idp.services.apps import ROLES
from idp.web.context import caller, tessera, uow
from portal.api.body import Field, check_fields, read_json
from portal.api.errors import ApiError
from portal.api.views import found_app, resource

FILE_REQUEST = {
    "kind": Field("string", required=True),
    "scopes": Field("string_list"),
    "tier": Field("string"),
    "justification": Field("string", required=True),
}
INVITE = {"username": Field("string", required=True), "role": Field("string")}
MAX_ID = 2**31 - 1  # the ids are 32-bit integers on PostgreSQL


@contextmanager
def refused_as(code: str, message: str) -> Iterator[None]:
    """A use case's FieldErrors as 422 `code`, with its messages by field."""
    try:
        yield
    except FieldErrors as exc:
        raise ApiError(422, code, message, fields=exc.errors) from None


def _id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise ApiError(404, "not_found", "There is nothing at this address.")
    return value


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "scopes": list(row.scopes or []) if row.kind == "scopes" else [],
        "tier": row.tier if row.kind == "tier" else None,
        "justification": row.justification,
        "status": row.status,
        "reason": row.reason or "",
        "created_at": row.created_at.isoformat(),
        "decided_at": _when(row.decided_at),
    }


def list_requests(user: Any, client_id: str) -> Response:
    client = found_app(user, client_id).client
    rows = access_requests.for_client(uow(), client.id)
    return jsonify({"access_requests": [request_json(r) for r in rows]})


def file_request(user: Any, client_id: str) -> Response:
    client = found_app(user, client_id).client
    body = check_fields(read_json(), FILE_REQUEST)
    kind, why, catalogue = body["kind"], body["justification"], tessera().catalogue
    if kind not in ("scopes", "tier"):
        raise ApiError(422, "invalid_request", "kind must be scopes or tier.", fields={"kind": []})
    with refused_as("invalid_request", "The request cannot be filed."), uow() as work:
        if kind == "scopes":
            scopes = body.get("scopes", [])
            row = access_requests.request_scopes(
                work, catalogue, caller(), client, user.id, scopes, why
            )
        else:
            row = access_requests.request_tier(
                work, catalogue, caller(), client, user.id, body.get("tier", ""), why
            )
    response = jsonify(request_json(row))
    response.status_code = 201
    return response


def withdraw_request(user: Any, client_id: str, request_id: int) -> Response:
    client = found_app(user, client_id).client
    try:
        with uow() as work:
            row = access_requests.withdraw(work, caller(), client, user.id, _id(request_id))
    except FieldErrors as exc:
        if exc.message == access_requests.NO_SUCH_REQUEST:
            raise ApiError(404, "not_found", "The app has no such access request.") from None
        raise ApiError(409, "already_decided", exc.message) from None
    return jsonify(request_json(row))


def member_json(member: Any, role: str) -> dict[str, Any]:
    return {"user_id": member.id, "username": member.username, "role": role}


def list_members(user: Any, client_id: str) -> Response:
    client = found_app(user, client_id).client
    found = app_members.members(uow(), client)
    return jsonify({"members": [member_json(m, r) for m, r in found]})


def _owner(user: Any, client_id: str) -> Any:
    found = found_app(user, client_id)
    if not found.is_owner:
        raise ApiError(403, "forbidden", "Only an owner of the app can change its members.")
    return found


def invite_member(user: Any, client_id: str) -> Response:
    found = _owner(user, client_id)
    body = check_fields(read_json(), INVITE)
    role = body.get("role", "developer")
    with refused_as("invalid_invitation", "The invitation cannot be sent."), uow() as work:
        answer = app_members.invite(work, caller(), found, user.id, body["username"], role)
    # The same answer whether or not the account exists: the API cannot list accounts either.
    response = jsonify({"message": answer, "roles": list(ROLES)})
    response.status_code = 202
    return response


def remove_member(user: Any, client_id: str, user_id: int) -> Response:
    found = _owner(user, client_id)
    try:
        with uow() as work:
            app_members.remove_member(work, caller(), found, user.id, _id(user_id))
    except FieldErrors:
        raise ApiError(404, "not_found", "This person is not a member of the app.") from None
    return Response(status=204)


def invitation_json(inv: app_members.Invitation) -> dict[str, Any]:
    return {
        "id": inv.id,
        "app_name": inv.app_name,
        "client_id": inv.client_id,
        "role": inv.role,
        "invited_by": inv.invited_by,
    }


def list_invitations(user: Any) -> Response:
    found = app_members.invitations_for(uow(), user.id)
    return jsonify({"invitations": [invitation_json(i) for i in found]})


def _answer(user: Any, invitation_id: int, accept: bool) -> Any:
    try:
        with uow() as work:
            return app_members.answer(work, caller(), user.id, _id(invitation_id), accept=accept)
    except FieldErrors:
        raise ApiError(404, "not_found", app_members.NO_SUCH_INVITATION) from None


def accept_invitation(user: Any, invitation_id: int) -> Response:
    client = _answer(user, invitation_id, True)
    if client is None:  # the app was deleted in the meantime
        raise ApiError(404, "not_found", app_members.NO_SUCH_INVITATION)
    body = {"client_id": client.client_id, "url": url_for("api.app", client_id=client.client_id)}
    return jsonify(body)


def decline_invitation(user: Any, invitation_id: int) -> Response:
    _answer(user, invitation_id, False)
    return Response(status=204)


def usage(user: Any, client_id: str) -> Response:
    client = found_app(user, client_id).client
    tessera().usage.flush()  # this worker's not-yet-written counts belong in the answer
    stats = app_usage.usage_for(uow(), client)
    return jsonify(
        {
            "days": [{"date": d.isoformat(), "tokens_issued": n} for d, n in stats.daily],
            "total": stats.total,
            "active_users": stats.active_users,
            "last_used": _when(stats.last_used),
        }
    )


APP = "/apps/<client_id>"
resource(f"{APP}/access-requests", "access_requests", {"GET": list_requests, "POST": file_request})
resource(f"{APP}/access-requests/<int:request_id>/withdraw", "withdraw", {"POST": withdraw_request})
resource(f"{APP}/members", "members", {"GET": list_members, "POST": invite_member})
resource(f"{APP}/members/<int:user_id>", "member", {"DELETE": remove_member})
resource(f"{APP}/usage", "usage", {"GET": usage})
resource("/invitations", "invitations", {"GET": list_invitations})
resource("/invitations/<int:invitation_id>/accept", "accept", {"POST": accept_invitation})
resource("/invitations/<int:invitation_id>/decline", "decline", {"POST": decline_invitation})
