"""Developer portal forms. Flask-WTF adds and checks the CSRF token on every one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from idp.domain.clients import APP_TYPES
from idp.domain.scopes import ScopeCatalogue
from idp.services.access_requests import higher_tiers
from idp.services.app_specs import scope_problems

GRACE_CHOICES = [
    (3600, "1 hour"),
    (86400, "24 hours"),
    (604800, "7 days"),
    (0, "None: the old secret stops working now"),
]
DEFAULT_GRACE = 3600  # as the CLI and the API: a rotation never breaks a running deployment
STOPS_NOW = "Anything still using an old secret fails from now on"
URI_HINT = "One per line. https, or http://127.0.0.1 for local development."


def lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class _DetailsForm(FlaskForm):
    name = StringField("App name", validators=[DataRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    homepage_url = StringField("Homepage URL", validators=[Optional(), Length(max=500)])
    privacy_url = StringField("Privacy policy URL", validators=[Optional(), Length(max=500)])
    tos_url = StringField("Terms of service URL", validators=[Optional(), Length(max=500)])
    redirect_uris = TextAreaField("Redirect URIs", validators=[Optional(), Length(max=10000)])
    post_logout_redirect_uris = TextAreaField(
        "Post-logout redirect URIs", validators=[Optional(), Length(max=10000)]
    )
    scopes = SelectMultipleField("Scopes", choices=[], validate_choice=True)
    logo = FileField("Logo (PNG, JPEG or WebP, at most 256 KiB)")


class CreateAppForm(_DetailsForm):
    app_type = SelectField(
        "App type",
        choices=[(t.name, t.label) for t in APP_TYPES.values()],
        validators=[DataRequired()],
    )
    restricted_scopes = SelectMultipleField("Restricted scopes", choices=[], validate_choice=True)
    # No Optional() here: it would stop the chain on an empty field before the check below.
    justification = TextAreaField(
        "Why does the app need the restricted scopes?", validators=[Length(max=2000)]
    )

    def setup(self, catalogue: ScopeCatalogue) -> CreateAppForm:
        self.scopes.choices = _choices(catalogue, restricted=False)
        self.restricted_scopes.choices = _choices(catalogue, restricted=True)
        return self

    def validate_justification(self, field) -> None:
        if self.restricted_scopes.data and len((field.data or "").strip()) < 10:
            raise ValidationError(
                "Explain in 10 to 2000 characters why the app needs these scopes."
            )


class EditAppForm(_DetailsForm):
    def setup(self, catalogue: ScopeCatalogue, held: list[str]) -> EditAppForm:
        """Public scopes, plus restricted ones the app already holds (so they can be dropped)."""
        choices = _choices(catalogue, restricted=False)
        choices += [c for c in _choices(catalogue, restricted=True) if c[0] in held]
        self.scopes.choices = choices
        return self


class ScopeRequestForm(FlaskForm):
    scopes = SelectMultipleField(
        "Restricted scopes", choices=[], validate_choice=True, validators=[DataRequired()]
    )
    justification = TextAreaField(
        "Why does the app need them?", validators=[DataRequired(), Length(min=10, max=2000)]
    )

    def setup(
        self, catalogue: ScopeCatalogue, app_type: str, held: list[str], pending: set[str]
    ) -> ScopeRequestForm:
        """Offers what this app may hold (the rule of app creation), does not hold yet and has
        not already asked for."""
        self.scopes.choices = [
            c
            for c in _choices(catalogue, restricted=True)
            if c[0] not in held
            and c[0] not in pending
            and not scope_problems(app_type, [c[0]], catalogue, allow_restricted=True)
        ]
        return self


class TierRequestForm(FlaskForm):
    tier = SelectField("Tier", choices=[], validators=[DataRequired()])
    justification = TextAreaField(
        "Why does the app need a higher limit?",
        validators=[DataRequired(), Length(min=10, max=2000)],
    )

    def setup(self, catalogue: ScopeCatalogue, current: str) -> TierRequestForm:
        """Only the tiers above the app's current one."""
        self.tier.choices = [
            (name, f"{name}: {t.rps:g} requests/s, burst {t.burst}")
            for name in higher_tiers(catalogue, current)
            for t in [catalogue.tiers[name]]
        ]
        return self


class RotateSecretForm(FlaskForm):
    grace = SelectField(
        "How long should the old secret keep working?",
        choices=GRACE_CHOICES,
        coerce=int,
        default=DEFAULT_GRACE,
    )
    confirm_now = BooleanField(f'{STOPS_NOW}: I have the new secret ready (only for "None")')

    def validate_confirm_now(self, field) -> None:
        if self.grace.data == 0 and not field.data:
            raise ValidationError(
                "Tick the box to confirm that the old secret stops working now, "
                "or choose a grace period."
            )


class RevokeOldSecretsForm(FlaskForm):
    confirm = BooleanField(f"{STOPS_NOW}: revoke them")

    def validate_confirm(self, field) -> None:
        if not field.data:
            raise ValidationError("Tick the box to confirm: old secrets stop working at once.")


class MemberForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=32)])
    role = SelectField("Role", choices=[("developer", "Developer"), ("owner", "Owner")])


class DeleteAppForm(FlaskForm):
    confirm_name = StringField("Type the app's name to confirm", validators=[DataRequired()])


def _choices(catalogue: ScopeCatalogue, *, restricted: bool) -> list[tuple[str, str]]:
    return [
        (name, f"{name}: {scope.description}")
        for name, scope in catalogue.scopes.items()
        if bool(scope.restricted) is restricted
    ]
