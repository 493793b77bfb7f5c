"""The portal's one mapping of a use case's FieldErrors onto a page: next to the field, or on top."""

from __future__ import annotations

from typing import Any

from flask import flash

from idp.errors import FieldErrors


def put_errors(form: Any, exc: FieldErrors, *, field: str | None = None) -> None:
    """Each message next to its field (or `field`, when the form has one place for them all);
    a message for a field the form does not show goes above the form."""
    for key, messages in exc.errors.items():
        target = getattr(form, field or key, None)
        if target is not None and hasattr(target, "errors") and key != "csrf_token":
            target.errors = [*target.errors, *messages]
        else:
            form.form_errors.extend(messages)


def flash_errors(exc: FieldErrors) -> None:
    """For an action without a form of its own (a button): the reason as a flash message."""
    flash(exc.message, "error")
