"""Forms of the recovery pages (idp.web.recovery); Flask-WTF adds the CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.domain.passwords import MAX_LENGTH


class ForgotPasswordForm(FlaskForm):
    login = StringField("Username or email", validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class ResetPasswordForm(NewPasswordForm):
    revoke_apps = BooleanField("Also sign out every app I have authorized", default=False)


class ChangeEmailForm(FlaskForm):
    new_email = EmailField("New email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_LENGTH)]
    )
