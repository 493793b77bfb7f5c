"""An OAuthError raised by any view becomes RFC 6749 5.2 JSON; its detail stays in the log."""

from __future__ import annotations

import logging

from flask import Flask

from idp.errors import InvalidRequest, OAuthError
from idp.web.errors import oauth_refusal


def test_a_refusal_raised_by_a_view_is_answered_as_json_without_its_detail(caplog):
    app = Flask(__name__)
    app.register_error_handler(OAuthError, oauth_refusal)

    @app.get("/refuse")
    def refuse():
        raise InvalidRequest("Send the token once.", detail="token in header and body")

    with caplog.at_level(logging.INFO, logger="idp.web.errors"):
        response = app.test_client().get("/refuse")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "Send the token once.",
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "token in header and body" not in response.get_data(as_text=True)
    assert "token in header and body" in caplog.text
