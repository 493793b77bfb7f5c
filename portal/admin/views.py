"""Admin console (/admin): the queue of access requests. Apps, users and the audit log are in
views_apps and views_users, on the same blueprint.

Anyone who is not a signed-in admin gets the ordinary 404 page, so the console is never
advertised to people who cannot use it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from idp.storage.models import User
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from idp.web.context import caller, tessera
from idp.web.errors import render_error
from idp.web.sessions import current_user
from portal.admin.forms import DecisionForm
from portal.services import access_requests, admin_apps, audit_log

bp = Blueprint("admin", __name__, url_prefix="/admin")
STATUSES = (access_requests.PENDING, access_requests.APPROVED, access_requests.DENIED)


@bp.before_request
def _admins_only() -> None:
    user = current_user()
    if user is None or not user.is_admin:
        abort(404)


def admin() -> User:
    return current_user()


def put_error(form: Any, field: str, message: str) -> None:
    target = getattr(form, field, None)
    if target is not None and hasattr(target, "errors") and field != "csrf_token":
        target.errors = [*target.errors, message]
    else:
        form.form_errors.append(message)


@bp.route("/")
def index():
    return redirect(url_for("admin.requests"), code=303)


@bp.route("/requests")
def requests():
    return _queue_page(request.args.get("status", access_requests.PENDING))


def _queue_page(
    status: str, errors: dict[int, str] | None = None, drafts: dict[int, str] | None = None
):
    if status not in STATUSES:
        return render_error(400, f"Choose one of the statuses: {', '.join(STATUSES)}.")
    rows = access_requests.queue(status, limit=200)
    apps = admin_apps.clients_by_pk({r.client_pk for r in rows})
    shown = {r.id for r in rows}
    elsewhere = [m for rid, m in (errors or {}).items() if rid not in shown]
    people = audit_log.usernames(
        {r.requested_by for r in rows if r.requested_by}
        | {r.decided_by for r in rows if r.decided_by}
    )
    return render_template(
        "admin/requests.html",
        rows=rows,
        apps=apps,
        people=people,
        status=status,
        statuses=STATUSES,
        catalogue=tessera().catalogue,
        errors=errors or {},
        elsewhere=elsewhere,
        drafts=drafts or {},
    ), 400 if errors else 200


@bp.route("/requests/<int:request_id>/decide", methods=["POST"])
def decide(request_id: int):
    form = DecisionForm()
    decision = request.form.get("decision")
    if decision not in ("approve", "deny"):
        return render_error(400, "Press Approve or Deny.")
    reason = form.reason.data or ""
    if not form.validate_on_submit():
        message = " ".join(form.reason.errors) or "The form could not be read; please try again."
        return _queue_page(access_requests.PENDING, {request_id: message}, {request_id: reason})
    decide_fn = access_requests.approve if decision == "approve" else access_requests.deny
    uow = SqlAlchemyUnitOfWork()
    try:
        row = decide_fn(uow, caller(), admin().id, request_id, reason)
    except access_requests.AccessRequestError as exc:
        uow.rollback()
        if str(exc) == "No such request.":
            abort(404)
        return _queue_page(access_requests.PENDING, {request_id: str(exc)}, {request_id: reason})
    client = admin_apps.clients_by_pk({row.client_pk}).get(row.client_pk)
    what = ", ".join(row.scopes) if row.kind == "scopes" else f"the {row.tier} tier"
    verb = "Approved" if decision == "approve" else "Denied"
    flash(f"{verb}: {what} for {client.name if client else 'the app'}.", "success")
    return redirect(url_for("admin.requests"), code=303)


from portal.admin import views_apps, views_users  # noqa: E402, F401 - registers the other pages
