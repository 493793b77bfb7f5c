"""/account/security: the user's second factors. Enrol an authenticator app (QR code rendered
here as SVG), see recovery codes once and regenerate them, add, rename and remove passkeys.

Changes that add or remove a factor need a fresh identity: a sign-in or a confirmation
(`/account/security/confirm`: the password, or a TOTP or recovery code) in the last
REAUTH_SECONDS, so a borrowed browser cannot swap the owner's factors.
"""

from __future__ import annotations

import time
from functools import wraps

import segno
from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from idp.errors import FieldErrors
from idp.services import mfa, passkeys, totp
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors, flash_errors
from idp.web.mfa import remember_challenge, settings, take_challenge
from idp.web.mfa_forms import CodeForm, NewPasskeyForm, ProofForm, RenamePasskeyForm
from idp.web.safe_next import safe_next
from idp.web.sessions import current_login_session, current_user, login_required, sign_in

bp = Blueprint("security", __name__, url_prefix="/account/security")

REAUTH_SECONDS = 300
REAUTH = "mfa_reauth"


def identity_is_fresh() -> bool:
    user, login_session = current_user(), current_login_session()
    if login_session is not None and time.time() - login_session.auth_time.timestamp() < (
        REAUTH_SECONDS
    ):
        return True
    mark = session.get(REAUTH)
    return (
        isinstance(mark, dict)
        and mark.get("uid") == user.id
        and isinstance(mark.get("at"), int)
        and time.time() - mark["at"] < REAUTH_SECONDS
    )


def fresh_identity_required(view):
    """Ask for the password or a code first (then come back: GET here, the overview for POST)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not identity_is_fresh():
            back = request.full_path.rstrip("?") if request.method == "GET" else _overview()
            return redirect(url_for("security.confirm", next=back), code=303)
        return view(*args, **kwargs)

    return login_required(wrapper)


def _overview() -> str:
    return url_for("security.index", next=request.values.get("next") or None)


def _upgrade_session(method: str) -> None:
    """The user just proved a new factor: this session now counts as multi-factor."""
    amr = current_login_session().amr
    sign_in(current_user(), amr=mfa.amr_with(amr, method))
    session[REAUTH] = {"uid": current_user().id, "at": int(time.time())}


@bp.route("", methods=["GET"])
@login_required
def index():
    user = current_user()
    with uow() as work:
        factors = mfa.factors_of(work, user.id)
    return render_template(
        "account/security.html",
        factors=factors,
        form=ConfirmForm(),
        rename_form=RenamePasskeyForm(formdata=None),
        next_url=safe_next(request.args.get("next"), default=""),
        admin_required=request.args.get("required") == "admin",
    )


@bp.route("/confirm", methods=["GET", "POST"])
@login_required
def confirm():
    next_url = safe_next(request.values.get("next"), default=url_for("security.index"))
    form = ProofForm()
    status = 200
    if form.validate_on_submit():
        services = tessera()
        try:
            with uow() as work:
                mfa.confirm_identity(
                    work, settings(), services.hasher, services.throttle, caller(),
                    current_user(), form.proof.data,
                )  # fmt: skip
        except mfa.FactorThrottled as exc:
            form.form_errors.append(str(exc))
            page = render_template("account/security_confirm.html", form=form, next_url=next_url)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        except FieldErrors as exc:
            apply_field_errors(form, exc)
            status = 401
        else:
            session[REAUTH] = {"uid": current_user().id, "at": int(time.time())}
            return redirect(next_url, code=303)
    elif request.method == "POST":
        status = 400
    return render_template("account/security_confirm.html", form=form, next_url=next_url), status


# --- authenticator app ------------------------------------------------------------------------


@bp.route("/totp/start", methods=["POST"])
@fresh_identity_required
def totp_start():
    if not ConfirmForm().validate_on_submit():
        flash("The form expired. Try again.", "error")
        return redirect(_overview(), code=303)
    try:
        with uow() as work:
            mfa.start_totp(work, settings(), current_user())
    except FieldErrors as exc:
        flash_errors(exc)
        return redirect(_overview(), code=303)
    return redirect(url_for("security.totp_enrol", next=request.values.get("next") or None), 303)


def qr_svg_data_uri(text: str) -> str:
    """The QR code as an SVG data: URI, made here (CSP img-src allows data:), sent nowhere."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2)


@bp.route("/totp", methods=["GET", "POST"])
@fresh_identity_required
def totp_enrol():
    user = current_user()
    next_url = safe_next(request.values.get("next"), default="")
    with uow() as work:
        secret = mfa.pending_totp_secret(work, settings(), user)
    if secret is None:
        return redirect(_overview(), code=303)
    form = CodeForm()
    form.code.label.text = "Code from your authenticator app"
    status = 200
    if form.validate_on_submit():
        try:
            with uow() as work:
                codes = mfa.confirm_totp(work, settings(), caller(), user, form.code.data)
        except mfa.FactorThrottled as exc:
            form.form_errors.append(str(exc))
            status = 429
        except FieldErrors as exc:
            apply_field_errors(form, exc)
            status = 400
        else:
            _upgrade_session("otp")
            return render_template("account/security_codes.html", codes=codes, next_url=next_url)
    elif request.method == "POST":
        status = 400
    uri = totp.provisioning_uri(secret, user.username, settings().issuer_name)
    return render_template(
        "account/security_totp.html",
        form=form,
        qr=qr_svg_data_uri(uri),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        next_url=next_url,
    ), status


@bp.route("/totp/disable", methods=["POST"])
@fresh_identity_required
def totp_disable():
    if ConfirmForm().validate_on_submit():
        with uow() as work:
            mfa.disable_totp(work, caller(), current_user())
        flash("The authenticator app was removed, with its recovery codes.", "success")
    return redirect(_overview(), code=303)


@bp.route("/recovery-codes", methods=["POST"])
@fresh_identity_required
def recovery_codes():
    if not ConfirmForm().validate_on_submit():
        return redirect(_overview(), code=303)
    try:
        with uow() as work:
            codes = mfa.regenerate_recovery_codes(work, caller(), current_user())
    except FieldErrors as exc:
        flash_errors(exc)
        return redirect(_overview(), code=303)
    return render_template("account/security_codes.html", codes=codes, next_url="")


# --- passkeys ---------------------------------------------------------------------------------


def _new_passkey_page(form: NewPasskeyForm, next_url: str, status: int = 200):
    try:
        with uow() as work:
            ceremony = passkeys.registration_options(work, settings().rp, current_user())
    except FieldErrors as exc:
        flash_errors(exc)
        return redirect(_overview(), code=303)
    options = remember_challenge(ceremony, "register")
    page = render_template(
        "account/security_passkey.html", form=form, passkey_options=options, next_url=next_url
    )
    return page, status


@bp.route("/passkeys/new", methods=["GET", "POST"])
@fresh_identity_required
def passkey_new():
    next_url = safe_next(request.values.get("next"), default="")
    form = NewPasskeyForm()
    if request.method == "GET":
        return _new_passkey_page(form, next_url)
    challenge = take_challenge("register")
    if not form.validate_on_submit() or challenge is None:
        form.form_errors.append("The passkey answer was missing or expired. Try again.")
        return _new_passkey_page(form, next_url, 400)
    try:
        with uow() as work:
            row = passkeys.finish_registration(
                work, settings().rp, caller(), current_user(),
                answer=form.answer.data, challenge=challenge, name=form.name.data,
            )  # fmt: skip
    except FieldErrors as exc:
        apply_field_errors(form, exc)
        return _new_passkey_page(form, next_url, 400)
    _upgrade_session("swk" if row.backup_eligible else "hwk")
    flash(f"Passkey “{row.name}” added.", "success")
    return redirect(next_url or url_for("security.index"), code=303)


@bp.route("/passkeys/<int:passkey_id>/rename", methods=["POST"])
@login_required
def passkey_rename(passkey_id: int):
    form = RenamePasskeyForm()
    if form.validate_on_submit():
        try:
            with uow() as work:
                passkeys.rename(work, caller(), current_user(), passkey_id, form.name.data)
        except FieldErrors as exc:
            flash_errors(exc)
        else:
            flash("Passkey renamed.", "success")
    else:
        flash("Give the passkey a name of at most 64 characters.", "error")
    return redirect(_overview(), code=303)


@bp.route("/passkeys/<int:passkey_id>/remove", methods=["POST"])
@fresh_identity_required
def passkey_remove(passkey_id: int):
    if ConfirmForm().validate_on_submit():
        try:
            with uow() as work:
                passkeys.remove(work, caller(), current_user(), passkey_id)
        except FieldErrors as exc:
            flash_errors(exc)
        else:
            flash("Passkey removed.", "success")
    return redirect(_overview(), code=303)
