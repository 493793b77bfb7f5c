"""Account forms, and how a use case's FieldErrors land on any form.

Flask-WTF adds the CSRF token to each form (docs/security.md#10).
"""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.domain.passwords import MAX_LENGTH
from idp.errors import FieldErrors


def apply_field_errors(form: FlaskForm, exc: FieldErrors) -> None:
    """Show each message next to its field; a message for a field the form lacks (or for the
    form as a whole, ``""``) shows above the form."""
    for name, messages in exc.errors.items():
        if name and name in form:
            form[name].errors = [*form[name].errors, *messages]
        else:
            form.form_errors.extend(messages)


def flash_errors(exc: FieldErrors) -> None:
    """For an action without a form of its own (a button): the reasons as one flash message."""
    flash(exc.message, "error")


class LoginForm(FlaskForm):
    login = StringField("Username or email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class RegisterForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(min=3, max=32)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_LENGTH)]
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=MAX_LENGTH)]
    )


class ConfirmForm(FlaskForm):
    """A form with only the CSRF token, for buttons such as Sign out."""
