"""/account/export and /account/delete: the user's own data, downloaded or erased."""

from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, Response, flash, g, redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from idp.domain.passwords import MAX_LENGTH
from idp.errors import FieldErrors
from idp.services import account_data
from idp.services.accounts import LoginThrottled, session_digest
from idp.services.reauthentication import confirm_identity
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors
from idp.web.sessions import SESSION_KEY, current_user, login_required

bp = Blueprint("account_data", __name__, url_prefix="/account")


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


def pseudonym_key() -> bytes:
    """The audit pseudonyms' key, derived from SECRET_KEY (a new SECRET_KEY starts new ones)."""
    secret = tessera().settings.SECRET_KEY.encode()
    return hmac.new(secret, b"tessera-audit-pseudonym", hashlib.sha256).digest()


@bp.route("/export", methods=["POST"])
@login_required
def export():
    with uow() as work:
        document = account_data.export_account(
            work,
            tessera().catalogue,
            caller(),
            current_user(),
            session_digest(session[SESSION_KEY]),
        )
    body = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    name = f"tessera-account-{current_user().username}.json"
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _delete_page(form: DeleteAccountForm, status: int = 200):
    with uow() as work:
        fates = account_data.fate_of_apps(work, current_user())
    page = render_template("account/delete.html", form=form, fates=fates, export_form=ConfirmForm())
    return page, status


@bp.route("/delete", methods=["GET"])
@login_required
def delete_page():
    return _delete_page(DeleteAccountForm())


@bp.route("/delete", methods=["POST"])
@login_required
def delete():
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _delete_page(form, 400)
    services = tessera()
    try:
        with uow() as work:
            confirm_identity(
                work, services.hasher, services.throttle, caller(), current_user(),
                password=form.password.data, purpose="account.delete",
            )  # fmt: skip
            account_data.delete_account(
                work,
                services.revocation_window,
                caller(),
                current_user(),
                pseudonym_key=pseudonym_key(),
            )
    except LoginThrottled as exc:
        form.form_errors.append(str(exc))
        page, _ = _delete_page(form)
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except FieldErrors as exc:
        apply_field_errors(form, exc)
        return _delete_page(form, 400)
    session.clear()
    g.user, g.login_session = None, None
    flash("Your account was deleted. Apps you had allowed were told it is gone.", "success")
    return redirect(url_for("auth.login"), code=303)
