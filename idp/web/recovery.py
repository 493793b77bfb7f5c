"""Forgotten passwords, e-mail verification and change, and the password change an admin forced.

Views only: the rules are in idp.services.password_reset, email_verification and email_change.
A one-time link's page says plainly what is wrong with a bad link (unknown, used, expired)
and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from sqlalchemy.exc import IntegrityError

from idp.errors import FieldErrors
from idp.services import accounts, email_change, email_verification, password_reset
from idp.services.mail import ActionThrottled, LinkInvalid, Links
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors, flash_errors
from idp.web.mfa import hold_for_second_factor
from idp.web.recovery_forms import (
    ChangeEmailForm,
    ForgotPasswordForm,
    NewPasswordForm,
    ResetPasswordForm,
)
from idp.web.safe_next import safe_next
from idp.web.sessions import SESSION_KEY, current_user, is_sessionless, login_required, sign_in

bp = Blueprint("recovery", __name__)

SENT = (
    "If an account matches, we have sent a link to its e-mail address. "
    "It works once, for {minutes} minutes. Check your spam folder too."
)


def _links() -> Links:
    return Links(tessera().settings.ISSUER)


def reset_policy() -> password_reset.ResetPolicy:
    return password_reset.ResetPolicy(_links(), tessera().settings.PASSWORD_RESET_TTL)


def verification_policy() -> email_verification.VerificationPolicy:
    settings = tessera().settings
    return email_verification.VerificationPolicy(
        _links(), settings.EMAIL_VERIFICATION_TTL, settings.unverified_may_consent
    )


def _change_policy() -> email_change.ChangePolicy:
    return email_change.ChangePolicy(_links(), tessera().settings.EMAIL_VERIFICATION_TTL)


def _message(title: str, text: str, status: int = 200, *, retry: bool = False):
    page = render_template("idp/recovery_message.html", title=title, text=text, retry=retry)
    return page, status


# --- password reset -----------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            with uow() as work:
                password_reset.request_reset(
                    work, tessera().action_throttle, reset_policy(), caller(), form.login.data
                )
        except ActionThrottled as exc:
            form.form_errors.append(str(exc))
            page = render_template("idp/forgot_password.html", form=form)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        minutes = tessera().settings.PASSWORD_RESET_TTL // 60
        return _message("Check your mail", SENT.format(minutes=minutes))
    status = 400 if request.method == "POST" else 200
    return render_template("idp/forgot_password.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    form, done = ResetPasswordForm(), False
    try:
        with uow() as work:
            user = password_reset.check_link(work, token)
            if form.validate_on_submit():
                user = password_reset.complete_reset(
                    work, tessera().hasher, tessera().revocation_window, caller(), token,
                    new_password=form.password.data, revoke_apps=bool(form.revoke_apps.data),
                )  # fmt: skip
                done = True
    except LinkInvalid as exc:
        return _message("This link cannot be used", str(exc), 400, retry=True)
    except FieldErrors as exc:
        apply_field_errors(form, exc)
    if done:
        # The link proves the mailbox, not the second factor: a user who has one still gives it.
        held = hold_for_second_factor(user, url_for("account.index"))
        if held is not None:
            flash("Your password was changed. Confirm it is you to sign in.", "success")
            return held
        sign_in(user)
        flash("Your password was changed. You are signed in.", "success")
        return redirect(url_for("account.index"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("idp/reset_password.html", form=form, user=user), status


# --- a password change an admin forced ------------------------------------------------------

ALLOWED_WHILE_FORCED = frozenset(
    {"recovery.change_required", "auth.logout", "static", "recovery.reset_password"}
)


@bp.before_app_request
def require_password_change():
    """An admin asked for a new password: until it is set, every page leads to the form."""
    user = current_user()
    if user is None or not user.must_change_password or is_sessionless():
        return None
    if (request.endpoint or "") in ALLOWED_WHILE_FORCED:
        return None
    return redirect(url_for("recovery.change_required", next=request.full_path.rstrip("?")), 303)


@bp.route("/password/change-required", methods=["GET", "POST"])
@login_required
def change_required():
    user, form = current_user(), NewPasswordForm()
    next_url = safe_next(request.values.get("next"))
    if not user.must_change_password:
        return redirect(next_url, code=303)
    if form.validate_on_submit():
        try:
            with uow() as work:
                password_reset.forced_change(
                    work, tessera().hasher, caller(), user, new_password=form.password.data,
                    keep_session=accounts.session_digest(session[SESSION_KEY]),
                )  # fmt: skip
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            flash("Your new password is set.", "success")
            return redirect(next_url, code=303)
    status = 400 if request.method == "POST" else 200
    page = render_template("idp/change_required.html", form=form, next_url=next_url)
    return page, status


# --- e-mail verification and change ---------------------------------------------------------


@bp.route("/email/verify/<token>")
def verify_email(token: str):
    try:
        with uow() as work:
            email_verification.verify(work, caller(), token)
    except LinkInvalid as exc:
        return _message("This link cannot be used", str(exc), 400)
    return _message("Address confirmed", "Thank you: your e-mail address is confirmed.")


@bp.route("/account/email/verify", methods=["POST"])
@login_required
def resend_verification():
    if not ConfirmForm().validate_on_submit():
        flash("This form has expired. Try again.", "error")
        return redirect(url_for("account.index"), code=303)
    try:
        with uow() as work:
            email_verification.resend(
                work, tessera().action_throttle, verification_policy(), caller(), current_user()
            )
    except (ActionThrottled, FieldErrors) as exc:
        flash(str(exc), "error")
    else:
        flash(f"We sent a new link to {current_user().email}.", "success")
    return redirect(url_for("account.index"), code=303)


@bp.route("/account/email", methods=["POST"])
@login_required
def change_email():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        try:
            with uow() as work:
                address = email_change.request_change(
                    work, tessera().hasher, tessera().throttle, tessera().action_throttle,
                    _change_policy(), caller(), current_user(),
                    new_email=form.new_email.data, password=form.password.data,
                )  # fmt: skip
        except (ActionThrottled, accounts.LoginThrottled) as exc:
            flash(str(exc), "error")
        except FieldErrors as exc:
            flash_errors(exc)
        else:
            flash(f"We sent a link to {address}: open it to confirm the change.", "success")
    else:
        flash("Give the new address and your current password.", "error")
    return redirect(url_for("account.index"), code=303)


@bp.route("/email/change/<token>")
def confirm_email_change(token: str):
    try:
        with uow() as work:
            user = email_change.confirm_change(work, caller(), token)
    except LinkInvalid as exc:
        return _message("This link cannot be used", str(exc), 400)
    except IntegrityError:  # another account took the address between the check and the commit
        message = "Another account uses that address now; the change cannot be made."
        return _message("This link cannot be used", message, 409)
    return _message("Address changed", f"Your account's e-mail address is now {user.email}.")


# --- hooks for other views ------------------------------------------------------------------


def after_registration(user) -> None:
    """idp.web.auth.register calls this once the account exists: the verification mail."""
    with uow() as work:
        email_verification.send_link(work, verification_policy(), caller(), user)


def consent_gate(user):
    """None when `user` may authorize apps; else the page asking to confirm the address first
    (TESSERA_UNVERIFIED_MAY_CONSENT)."""
    if email_verification.may_consent(verification_policy(), user):
        return None
    page = render_template("idp/verify_first.html", user=user)
    return page, 403
