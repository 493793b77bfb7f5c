"""Admin console: the queue of access requests (apps, users and the audit log are in
views_apps and views_users, on the same blueprint)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from idp.errors import FieldErrors
from idp.services import access_requests, audit_queries
from idp.web.context import caller, tessera, uow
from idp.web.errors import render_error
from portal.admin.blueprint import admin, bp
from portal.admin.forms import DecisionForm

STATUSES = (access_requests.PENDING, access_requests.APPROVED, access_requests.DENIED)


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
    work = uow()
    rows = access_requests.queue(work, status, limit=200)
    shown = {r.id for r in rows}
    people = {r.requested_by for r in rows if r.requested_by}
    people |= {r.decided_by for r in rows if r.decided_by}
    return render_template(
        "admin/requests.html",
        rows=rows,
        apps=work.clients.by_pks({r.client_pk for r in rows}),
        people=audit_queries.usernames(work, people),
        status=status,
        statuses=STATUSES,
        catalogue=tessera().catalogue,
        errors=errors or {},
        elsewhere=[m for rid, m in (errors or {}).items() if rid not in shown],
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
    try:
        with uow() as work:
            if decision == "approve":
                row = access_requests.approve(
                    work, caller(), admin().id, request_id, reason, catalogue=tessera().catalogue
                )
            else:
                row = access_requests.deny(work, caller(), admin().id, request_id, reason)
    except FieldErrors as exc:
        if exc.message == access_requests.NO_SUCH_REQUEST:
            abort(404)
        return _queue_page(access_requests.PENDING, {request_id: exc.message}, {request_id: reason})
    client = uow().clients.get(row.client_pk)
    what = ", ".join(row.scopes) if row.kind == "scopes" else f"the {row.tier} tier"
    verb = "Approved" if decision == "approve" else "Denied"
    flash(f"{verb}: {what} for {client.name if client else 'the app'}.", "success")
    return redirect(url_for("admin.requests"), code=303)
