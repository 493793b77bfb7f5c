"""Forms of the second-factor pages (Flask-WTF: every one carries the CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from idp.domain.passwords import MAX_LENGTH


class CodeForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired(), Length(max=40)],
    )


class PasskeyAnswerForm(FlaskForm):
    """The browser's WebAuthn answer, put in `answer` by static/passkeys.js."""

    answer = HiddenField(validators=[DataRequired(), Length(max=20000)])


class NewPasskeyForm(PasskeyAnswerForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])


class RenamePasskeyForm(FlaskForm):
    name = StringField("New name", validators=[DataRequired(), Length(max=64)])


class ProofForm(FlaskForm):
    proof = PasswordField(
        "Your password, or a code from your authenticator app",
        validators=[DataRequired(), Length(max=MAX_LENGTH)],
    )
