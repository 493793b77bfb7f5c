"""/device: where a person types the code their device shows, then allows or denies it (RFC 8628 3.3).

Sign-in comes first (and brings the person back with the code filled in). The consent screen
always shows, even when the app was allowed before: the code could have come from someone
else's device (RFC 8628 5.4), so the person must see which app they are letting in.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp.services.device_flow import UserCodeError, display_user_code
from idp.web.context import caller, tessera, uow
from idp.web.errors import render_error
from idp.web.forms import ConfirmForm
from idp.web.sessions import current_login_session, current_user, login_required

bp = Blueprint("device", __name__)

PENDING_KEY = "device_pending"
RESULT_KEY = "device_result"


class UserCodeForm(FlaskForm):
    user_code = StringField(
        "Code shown on your device", validators=[DataRequired(), Length(max=32)]
    )


def _entry_page(form: UserCodeForm, error: str | None = None, status: int = 200) -> Response:
    response = Response(render_template("idp/device.html", form=form, error=error), status)
    return response


def _throttle_key() -> tuple[str, str]:
    return str(current_user().id), caller().ip


@bp.route("/device", methods=["GET"])
@login_required
def enter() -> Response:
    prefill = request.args.get("user_code", "")
    form = UserCodeForm(formdata=None, user_code=prefill[:32] if isinstance(prefill, str) else "")
    return _entry_page(form)


@bp.route("/device", methods=["POST"])
@login_required
def lookup() -> Response:
    form = UserCodeForm()
    if not form.validate_on_submit():
        return _entry_page(form, "Type the code shown on your device.", 400)
    flow = tessera().device_flow
    account, ip = _throttle_key()
    wait = flow.throttle.retry_after(account, ip)
    if wait:
        response = _entry_page(
            form, f"Too many wrong codes. Please wait {wait} seconds and try again.", 429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    work = uow()
    try:
        row = flow.lookup_for_user(work, form.user_code.data)
    except UserCodeError as problem:
        flow.throttle.record_failure(account, ip)
        return _entry_page(form, problem.message, 400)
    client = work.clients.get(row.client_pk)
    owner = work.users.get(client.owner_id) if client.owner_id else None
    catalogue = tessera().catalogue
    pending_id = secrets.token_urlsafe(16)
    session[PENDING_KEY] = {"id": pending_id, "code": row.user_code}
    return Response(
        render_template(
            "idp/device_consent.html",
            client=client,
            owner=owner,
            scopes=[catalogue.scopes[s] for s in row.scope.split() if s in catalogue.scopes],
            user_code=display_user_code(row.user_code),
            pending_id=pending_id,
            form=ConfirmForm(),
            user=current_user(),
        )
    )


@bp.route("/device/decide", methods=["POST"])
@login_required
def decide() -> Response:
    form = ConfirmForm()
    pending = session.get(PENDING_KEY)
    if not form.validate_on_submit() or not isinstance(pending, dict):
        return render_error(400, "This form has expired. Type the code from your device again.")
    if not secrets.compare_digest(str(pending.get("id")), request.form.get("pending_id", "")):
        return render_error(400, "This form does not belong to the code you typed.")
    session.pop(PENDING_KEY, None)
    services = tessera()
    flow, user, work = services.device_flow, current_user(), uow()
    allow = request.form.get("decision") == "allow"
    try:
        with work:  # the flow commits its decision; a refusal rolls back
            row = flow.lookup_for_user(work, str(pending.get("code")))
            client = work.clients.get(row.client_pk)
            policy = services.oauth.query_client(client.client_id).policy
            if allow:
                flow.approve(work, caller(), user, row, policy, current_login_session().auth_time)
            else:
                flow.deny(work, caller(), user, row, policy)
    except UserCodeError as problem:
        return _entry_page(UserCodeForm(formdata=None), problem.message, 400)
    session[RESULT_KEY] = {"app": client.name, "approved": allow}
    return redirect(url_for("device.done"), code=303)


@bp.route("/device/done", methods=["GET"])
@login_required
def done() -> Response:
    result = session.pop(RESULT_KEY, None)
    if not isinstance(result, dict):
        return redirect(url_for("device.enter"), code=303)
    return Response(
        render_template(
            "idp/device_done.html", app_name=result.get("app"), approved=result.get("approved")
        )
    )
