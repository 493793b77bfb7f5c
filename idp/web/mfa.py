"""The second step of signing in (a TOTP or recovery code, or a passkey), passwordless passkey
sign-in, step-up for apps that ask for acr_values, and the admin enrolment gate.

The hooks other modules call are small on purpose (idp.web.auth, idp.web.authorize.views):
`hold_for_second_factor` after a correct password, `required_authentication` before a code is
issued. The pending sign-in lives in the Flask session ("mfa_pending", with an expiry): no
session opens until the factor is checked.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from idp.domain.claims import ACR_MFA
from idp.errors import FieldErrors, OAuthError
from idp.services import mfa, passkeys
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors
from idp.web.mfa_forms import CodeForm, PasskeyAnswerForm
from idp.web.safe_next import safe_next
from idp.web.sessions import current_login_session, current_user, sign_in

bp = Blueprint("mfa", __name__)

PENDING = "mfa_pending"
CHALLENGE = "mfa_webauthn"
DECLINED = "pending_mfa_declined"  # "pending_": kept across sign_in, like the authorize marks


class UnmetAuthenticationRequirements(OAuthError):
    """OpenID Connect Core Error Code unmet_authentication_requirements 1.0."""

    error = "unmet_authentication_requirements"


def settings() -> mfa.Mfa:
    return tessera().mfa


# --- hooks ------------------------------------------------------------------------------------


def hold_for_second_factor(user: Any, next_url: str, amr: str = "pwd") -> Response | None:
    """After a correct password: None when the user has no factor (sign in now), else the
    redirect to the second step, with the sign-in held in the Flask session."""
    with uow() as work:
        if not mfa.factors_of(work, user.id).any:
            return None
    _hold(user.id, amr, next_url)
    return redirect(url_for("mfa.second_factor"), code=303)


def _hold(user_id: int, amr: str, next_url: str) -> None:
    session.pop(CHALLENGE, None)
    session[PENDING] = {
        "uid": user_id,
        "amr": amr,
        "next": next_url,
        "exp": int(time.time()) + settings().pending_ttl,
    }


def required_authentication(params: dict[str, str], prompt: list[str]) -> Response | None:
    """acr_values asking for more than this session's sign-in: step up (a factor), enrol, or
    unmet_authentication_requirements (prompt=none, or the user declined to enrol)."""
    wanted = params.get("acr_values", "").split()
    login_session = current_login_session()
    if mfa.acr_satisfied(wanted, login_session.amr):
        return None
    here = safe_next(request.full_path)
    declined = session.pop(DECLINED, None)
    user = current_user()
    with uow() as work:
        has_factor = mfa.factors_of(work, user.id).any
    if "none" in prompt or declined == here:
        raise UnmetAuthenticationRequirements(
            "The app requires a sign-in with a second factor."
            if ACR_MFA in wanted
            else "The requested authentication context could not be met."
        )
    if has_factor:
        _hold(user.id, login_session.amr, here)
        return redirect(url_for("mfa.second_factor"), code=303)
    return redirect(url_for("mfa.factor_required", next=here), code=303)


def admin_enrolment_gate() -> Response | None:
    """before_request: TESSERA_REQUIRE_MFA_FOR_ADMINS sends a factorless admin to enrol."""
    if request.blueprint != "admin" or not settings().require_for_admins:
        return None
    user = current_user()
    if user is None or not user.is_admin:
        return None
    with uow() as work:
        factors = mfa.factors_of(work, user.id)
    if not mfa.admin_must_enrol(settings(), user, factors):
        return None
    return redirect(
        url_for("security.index", next=request.full_path.rstrip("?"), required="admin"), code=303
    )


# --- the pending sign-in ----------------------------------------------------------------------


def _pending_user() -> tuple[Any, dict] | None:
    held = session.get(PENDING)
    if not isinstance(held, dict) or not isinstance(held.get("exp"), int):
        return None
    if held["exp"] < time.time():
        session.pop(PENDING, None)
        return None
    with uow() as work:
        user = work.users.get(held.get("uid"))
    if user is None or user.disabled_at is not None:
        session.pop(PENDING, None)
        return None
    return user, held


def _start_over() -> Response:
    session.pop(PENDING, None)
    return redirect(url_for("auth.login"), code=303)


def remember_challenge(ceremony: passkeys.Ceremony, purpose: str) -> str:
    """Keep the WebAuthn challenge for the answer; the options go into the page."""
    session[CHALLENGE] = {
        "c": base64.urlsafe_b64encode(ceremony.challenge).decode(),
        "for": purpose,
        "exp": int(time.time()) + 300,
    }
    # Inside <script type="application/json">: "<" escaped so no value can close the element.
    return ceremony.options_json.replace("<", "\\u003c")


def take_challenge(purpose: str) -> bytes | None:
    kept = session.pop(CHALLENGE, None)
    if not isinstance(kept, dict) or kept.get("for") != purpose:
        return None
    if not isinstance(kept.get("exp"), int) or kept["exp"] < time.time():
        return None
    return base64.urlsafe_b64decode(str(kept.get("c", "")))


def _finish(user: Any, amr: str, next_url: str) -> Response:
    sign_in(user, amr=amr)
    return redirect(safe_next(next_url), code=303)


def _second_factor_page(user: Any, form: CodeForm, status: int = 200, **headers: str):
    with uow() as work:
        factors = mfa.factors_of(work, user.id)
        options = None
        if factors.passkeys:
            options = remember_challenge(
                passkeys.authentication_options(work, settings().rp, user), "second_factor"
            )
    page = render_template(
        "idp/mfa_second_factor.html",
        form=form,
        passkey_form=PasskeyAnswerForm(formdata=None),
        factors=factors,
        passkey_options=options,
    )
    return page, status, headers


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor():
    pending = _pending_user()
    if pending is None:
        return _start_over()
    user, held = pending
    form = CodeForm()
    if not form.validate_on_submit():
        return _second_factor_page(user, form, 400 if request.method == "POST" else 200)
    try:
        with uow() as work:
            method = mfa.verify_code(work, settings(), caller(), user, form.code.data)
    except mfa.FactorThrottled as exc:
        form.form_errors.append(str(exc))
        return _second_factor_page(user, form, 429, **{"Retry-After": str(exc.retry_after)})
    except FieldErrors as exc:
        apply_field_errors(form, exc)
        return _second_factor_page(user, form, 401)
    return _finish(user, mfa.amr_with(held["amr"], method), held["next"])


@bp.route("/login/second-factor/passkey", methods=["POST"])
def second_factor_passkey():
    pending = _pending_user()
    if pending is None:
        return _start_over()
    user, held = pending
    form = PasskeyAnswerForm()
    challenge = take_challenge("second_factor")
    code_form = CodeForm(formdata=None)
    if not form.validate_on_submit() or challenge is None:
        code_form.form_errors.append("The passkey answer was missing or expired. Try again.")
        return _second_factor_page(user, code_form, 400)
    try:
        _passkey_throttle(f"u{user.id}")
        with uow() as work:
            login = passkeys.finish_authentication(
                work, settings().rp, caller(), answer=form.answer.data, challenge=challenge,
                user=user,
            )  # fmt: skip
    except mfa.FactorThrottled as exc:
        code_form.form_errors.append(str(exc))
        return _second_factor_page(user, code_form, 429, **{"Retry-After": str(exc.retry_after)})
    except FieldErrors as exc:
        settings().throttle.record_failure(f"u{user.id}", caller().ip)
        apply_field_errors(code_form, exc)
        return _second_factor_page(user, code_form, 401)
    return _finish(user, mfa.amr_with(held["amr"], login.method), held["next"])


def _passkey_throttle(account: str) -> None:
    wait = settings().throttle.retry_after(account, caller().ip)
    if wait:
        raise mfa.FactorThrottled(wait)


# --- passwordless -----------------------------------------------------------------------------


def _passkey_login_page(form: PasskeyAnswerForm, next_url: str, status: int = 200, **headers):
    with uow() as work:
        options = remember_challenge(
            passkeys.authentication_options(work, settings().rp), "passwordless"
        )
    page = render_template(
        "idp/mfa_passkey_login.html", form=form, next_url=next_url, passkey_options=options
    )
    return page, status, headers


@bp.route("/login/passkey", methods=["GET", "POST"])
def passkey_login():
    next_url = safe_next(request.values.get("next"))
    form = PasskeyAnswerForm()
    if request.method == "GET":
        return _passkey_login_page(form, next_url)
    challenge = take_challenge("passwordless")
    if not form.validate_on_submit() or challenge is None:
        form.form_errors.append("The passkey answer was missing or expired. Try again.")
        return _passkey_login_page(form, next_url, 400)
    account = f"ip:{caller().ip}"  # no account is known before the assertion is checked
    try:
        _passkey_throttle(account)
        with uow() as work:
            login = passkeys.finish_authentication(
                work, settings().rp, caller(), answer=form.answer.data, challenge=challenge
            )
    except mfa.FactorThrottled as exc:
        form.form_errors.append(str(exc))
        return _passkey_login_page(form, next_url, 429, **{"Retry-After": str(exc.retry_after)})
    except FieldErrors as exc:
        settings().throttle.record_failure(account, caller().ip)
        apply_field_errors(form, exc)
        return _passkey_login_page(form, next_url, 401)
    # The authenticator verified the user (PIN or biometric) and holds the key: two factors.
    return _finish(login.user, f"{login.method} mfa", next_url)


# --- an app asked for MFA, the user has no factor ---------------------------------------------


@bp.route("/login/factor-required", methods=["GET", "POST"])
def factor_required():
    next_url = safe_next(request.values.get("next"))
    form = ConfirmForm()
    if current_user() is None:
        return redirect(url_for("auth.login", next=next_url), code=303)
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("idp/mfa_required.html", form=form, next_url=next_url), 400
        session[DECLINED] = next_url  # the authorization request answers the app's error
        return redirect(next_url, code=303)
    return render_template("idp/mfa_required.html", form=form, next_url=next_url)
