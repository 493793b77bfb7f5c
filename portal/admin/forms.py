"""Admin console forms. Flask-WTF adds and checks the CSRF token on every one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from idp.domain.scopes import ScopeCatalogue


class DecisionForm(FlaskForm):
    """Approve or deny one access request; the button pressed says which."""

    reason = TextAreaField(
        "Reason (sent to the developer; needed to deny)", validators=[Optional(), Length(max=2000)]
    )


class LimitsForm(FlaskForm):
    tier = SelectField("Tier", choices=[], validators=[DataRequired()])
    custom_rps = StringField("Custom requests per second", validators=[Optional(), Length(max=20)])
    custom_burst = StringField("Custom burst", validators=[Optional(), Length(max=20)])

    def setup(self, catalogue: ScopeCatalogue) -> LimitsForm:
        self.tier.choices = [
            (t.name, f"{t.name} ({t.rps:g} per second, burst {t.burst})")
            for t in catalogue.tiers.values()
        ]
        return self


class ReasonForm(FlaskForm):
    """Suspending an app or disabling an account: the reason goes into the audit log."""

    reason = TextAreaField(
        "Reason", validators=[DataRequired("Give a reason."), Length(min=3, max=500)]
    )
