"""The Flask side of the edge: request text checked once, before any view or form sees it.

The rule itself is idp.domain.request_text; the machine endpoints apply the same rule in front
of Flask (idp.protocol.machine_endpoints). A refusal is a 400 with the reason: RFC 6749 JSON
on the protocol and API paths, a readable page elsewhere (idp.web.errors).
"""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from idp.domain.request_text import BadText, check_basic_credentials, check_pairs, check_text

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectedText(BadRequest):
    """Request text no view accepts; its description quotes no input, so it is shown as is."""


def check_request_text() -> None:
    """before_request: the path, query, form fields and Basic credentials are valid text."""
    try:
        check_text(request.path, "The address")
        check_pairs(request.args.items(multi=True), "query")
        if request.mimetype in _FORM_TYPES:
            check_pairs(request.form.items(multi=True), "form")
            for name, upload in request.files.items(multi=True):
                check_text(name, "A form field name")
                check_text(upload.filename or "", "An uploaded file name")
        check_basic_credentials(request.headers.get("Authorization"))
    except BadText as exc:
        raise RejectedText(str(exc)) from None
