"""Personal access tokens (/developers/tokens): a developer's own key to the management API.

A new token is shown on the next page once, carried there encrypted in the session like a new
client secret (portal.developer.blueprint); only its hash is stored.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from idp.errors import FieldErrors
from idp.services import personal_tokens
from idp.web.context import caller, uow
from idp.web.forms import ConfirmForm, apply_field_errors, flash_errors
from idp.web.sessions import current_user
from portal.developer.blueprint import bp, remember_secret, take_secret

# The key the new token rides under in the session (no client_id looks like it).
SHOWN_ONCE = "personal-access-token"
EXPIRY_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year")]


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=personal_tokens.NAME_MAX)])
    scopes = SelectMultipleField(
        "Scopes",
        choices=list(personal_tokens.SCOPES.items()),
        validators=[DataRequired("Choose at least one scope.")],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    expires_in_days = SelectField("Expires after", choices=EXPIRY_CHOICES, coerce=int, default=30)


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    user_id, form = current_user().id, TokenForm()
    if form.validate_on_submit():
        try:
            with uow() as work:
                row, token = personal_tokens.create(
                    work, caller(), user_id, form.name.data, list(form.scopes.data),
                    form.expires_in_days.data,
                )  # fmt: skip
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            remember_secret(SHOWN_ONCE, token)
            flash(
                f"The token {row.name} is created. Copy it now: it is shown only once.", "success"
            )
            return redirect(url_for("developer.tokens"), code=303)
    page = render_template(
        "portal/tokens.html",
        form=form,
        new_token=take_secret(SHOWN_ONCE) if request.method == "GET" else None,
        tokens=personal_tokens.tokens_of(uow(), user_id),
        status=personal_tokens.status,
        revoke_form=ConfirmForm(),
    )
    status = 400 if request.method == "POST" else 200
    return page, status, {"Cache-Control": "no-store"}


@bp.route("/tokens/<public_id>/revoke", methods=["POST"])
def revoke_token(public_id: str):
    if ConfirmForm().validate_on_submit():
        try:
            with uow() as work:
                row = personal_tokens.revoke(work, caller(), current_user().id, public_id)
        except FieldErrors as exc:
            flash_errors(exc)
        else:
            flash(f"The token {row.name} is revoked: it no longer works.", "success")
    return redirect(url_for("developer.tokens"), code=303)
