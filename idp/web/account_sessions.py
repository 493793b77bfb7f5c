"""/account/sessions: the browsers signed in to the account, and signing them out."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for

from idp.errors import FieldErrors
from idp.services import login_sessions
from idp.services.accounts import session_digest
from idp.web.context import caller, uow
from idp.web.forms import ConfirmForm, flash_errors
from idp.web.sessions import SESSION_KEY, current_user, login_required

bp = Blueprint("account_sessions", __name__, url_prefix="/account/sessions")


def _current_digest() -> str:
    return session_digest(session[SESSION_KEY])


@bp.route("", methods=["GET"])
@login_required
def index():
    with uow() as work:
        devices = login_sessions.signed_in_devices(work, current_user().id, _current_digest())
    return render_template("account/sessions.html", devices=devices, form=ConfirmForm())


@bp.route("/<handle>/sign-out", methods=["POST"])
@login_required
def sign_out_one(handle: str):
    # CSRFProtect has already refused a POST without a valid token (400) before we get here.
    try:
        with uow() as work:
            device = login_sessions.sign_out_device(
                work, caller(), current_user().id, handle, _current_digest()
            )
    except login_sessions.UnknownSession:
        abort(404)
    except FieldErrors as exc:
        flash_errors(exc)
    else:
        flash(f"{device} was signed out.", "success")
    return redirect(url_for("account_sessions.index"), code=303)


@bp.route("/sign-out-others", methods=["POST"])
@login_required
def sign_out_others():
    with uow() as work:
        count = login_sessions.sign_out_other_devices(
            work, caller(), current_user().id, _current_digest()
        )
    flash(
        f"Signed out {count} other browser{'s' if count != 1 else ''}."
        if count
        else "No other browser was signed in.",
        "success",
    )
    return redirect(url_for("account_sessions.index"), code=303)
