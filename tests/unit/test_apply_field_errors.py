"""FieldErrors from a use case land on the form field they name, or above the form."""

from __future__ import annotations

from wtforms import Form, StringField

from idp.errors import FieldErrors
from idp.web.forms import apply_field_errors


class NameForm(Form):
    username = StringField()


def test_a_message_for_a_field_shows_next_to_that_field():
    form = NameForm()
    apply_field_errors(form, FieldErrors("This username is taken.", "username"))
    assert form.username.errors == ["This username is taken."]
    assert form.form_errors == []


def test_a_message_for_the_whole_form_shows_above_it():
    form = NameForm()
    apply_field_errors(form, FieldErrors("Incorrect username or password."))
    assert form.form_errors == ["Incorrect username or password."]


def test_a_field_the_form_lacks_shows_above_it_rather_than_vanishing():
    form = NameForm()
    apply_field_errors(form, FieldErrors({"email": ["Not an email."], "username": ["Too short."]}))
    assert form.form_errors == ["Not an email."]
    assert form.username.errors == ["Too short."]


def test_messages_add_to_errors_the_form_already_found():
    form = NameForm()
    form.validate()
    form.username.errors.append("Required.")
    apply_field_errors(form, FieldErrors("Too short.", "username"))
    assert form.username.errors == ["Required.", "Too short."]
