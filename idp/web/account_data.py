"""/account/export and /account/delete: the user's own data, downloaded or erased."""

from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, Response, flash, g, redirect, render_template, session, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import Length, Optional

from idp.domain.passwords import MAX_LENGTH
from idp.errors import FieldErrors
from idp.services import account_data, mfa
from idp.services.accounts import session_digest
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors
from idp.web.mfa import settings as mfa_settings
from idp.web.security import identity_is_fresh
from idp.web.sessions import SESSION_KEY, current_user, login_required

bp = Blueprint("account_data", __name__, url_prefix="/account")


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password, or a code from your authenticator app",
        validators=[Optional(), Length(max=MAX_LENGTH)],
    )


NO_PASSWORD_STALE = (
    "Your account has no password: sign in again (for example with Discord), then delete it "
    "within five minutes."
)


def _confirm_identity(work, form: DeleteAccountForm) -> None:
    """A fresh proof that this is the owner: the password or a TOTP/recovery code
    (idp.services.mfa.confirm_identity); an account without a password (it signs in upstream
    only) proves it by a sign-in within the last five minutes instead."""
    user = current_user()
    if not user.password_hash and not form.password.data:
        if not identity_is_fresh():
            raise FieldErrors(NO_PASSWORD_STALE, "password")
        return
    services = tessera()
    try:
        mfa.confirm_identity(
            work, mfa_settings(), services.hasher, services.throttle, caller(), user,
            form.password.data or "",
        )  # fmt: skip
    except FieldErrors as exc:
        raise FieldErrors(exc.message, "password") from None


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
            _confirm_identity(work, form)
            account_data.delete_account(
                work,
                services.revocation_window,
                caller(),
                current_user(),
                pseudonym_key=pseudonym_key(),
            )
    except mfa.FactorThrottled as exc:
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
