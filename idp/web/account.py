"""The signed-in user's own account page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from idp.errors import FieldErrors
from idp.services import accounts
from idp.web.context import caller, tessera, uow
from idp.web.forms import ChangePasswordForm, apply_field_errors
from idp.web.sessions import SESSION_KEY, current_user, login_required

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("", methods=["GET"])
@login_required
def index():
    return render_template("account/index.html", user=current_user(), form=ChangePasswordForm())


@bp.route("/password", methods=["POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    user = current_user()
    if form.validate_on_submit():
        try:
            with uow() as work:
                accounts.change_password(
                    work,
                    tessera().hasher,
                    tessera().throttle,
                    caller(),
                    user,
                    current=form.current_password.data,
                    new=form.new_password.data,
                    keep_session=accounts.session_digest(session[SESSION_KEY]),
                )
        except accounts.LoginThrottled as exc:
            form.form_errors.append(str(exc))
            page = render_template("account/index.html", user=user, form=form)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            flash("Your password was changed. Other devices were signed out.", "success")
            return redirect(url_for("account.index"), code=303)
    return render_template(
        "account/index.html", user=user, form=form
    ), 400 if request.method == "POST" else 200
