"""Sign in, sign out, register."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, redirect, render_template, request, url_for

from idp.errors import FieldErrors
from idp.services import accounts
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, LoginForm, RegisterForm, apply_field_errors
from idp.web.mfa import hold_for_second_factor
from idp.web.recovery import after_registration
from idp.web.safe_next import safe_next
from idp.web.sessions import current_user, sign_in, sign_out

bp = Blueprint("auth", __name__)


def _pending_app_name(next_url: str) -> str | None:
    """The app a user signs in for, when the login interrupts an authorization request."""
    parts = urlsplit(next_url)
    if parts.path != "/oauth/authorize":
        return None
    client_id = (parse_qs(parts.query).get("client_id") or [""])[0]
    client = tessera().oauth.query_client(client_id) if client_id else None
    return client.policy.name if client is not None else None


def _login_page(form: LoginForm, next_url: str) -> str:
    return render_template(
        "idp/login.html", form=form, next_url=next_url, pending_app=_pending_app_name(next_url)
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.values.get("next"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        services = tessera()
        try:
            with uow() as work:
                user = accounts.authenticate(
                    work,
                    services.hasher,
                    services.throttle,
                    caller(),
                    login=form.login.data,
                    password=form.password.data,
                )
        except accounts.LoginThrottled as exc:
            form.form_errors.append(str(exc))
            response = _login_page(form, next_url)
            return response, 429, {"Retry-After": str(exc.retry_after)}
        except FieldErrors as exc:
            apply_field_errors(form, exc)
            status = 403 if isinstance(exc, accounts.AccountDisabled) else 401
        else:
            # A user with a second factor completes it first (idp.web.mfa).
            held = hold_for_second_factor(user, next_url)
            if held is not None:
                return held
            sign_in(user)
            return redirect(next_url, code=303)
    elif request.method == "POST":
        status = 400
    return _login_page(form, next_url), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    next_url = safe_next(request.values.get("next"))
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        try:
            with uow() as work:
                user = accounts.register(
                    work,
                    tessera().hasher,
                    caller(),
                    username=form.username.data,
                    email=form.email.data,
                    password=form.password.data,
                    throttle=tessera().register_throttle,
                )
        except accounts.RegistrationThrottled as exc:
            form.form_errors.append(str(exc))
            page = render_template("idp/register.html", form=form, next_url=next_url)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        except FieldErrors as exc:
            apply_field_errors(form, exc)
            status = 400
        else:
            sign_in(user)
            after_registration(user)  # the e-mail verification link (idp.web.recovery)
            return redirect(next_url, code=303)
    elif request.method == "POST":
        status = 400
    return render_template("idp/register.html", form=form, next_url=next_url), status


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("idp/logout.html", form=form), 400
        sign_out()
        # "Not you?" on the consent page: sign in again and return to the same request.
        back = safe_next(request.form.get("next"), default="")
        return redirect(url_for("auth.login", **({"next": back} if back else {})), code=303)
    if current_user() is None:
        return redirect(url_for("auth.login"), code=303)
    return render_template("idp/logout.html", form=form)
