"""idp.protocol.answers: the framework-free answers Authlib's server hands back."""

from __future__ import annotations

from idp.protocol.answers import answer, to_flask
from idp.protocol.server import TesseraIssuerParameter


def test_json_payloads_are_compact_bytes_and_headers_a_list():
    result = answer(200, {"a": 1, "b": "x"}, (("Content-Type", "application/json"),))
    assert result == (200, b'{"a":1,"b":"x"}', [("Content-Type", "application/json")])


def test_rfc9207_2_the_issuer_extension_adds_iss_to_a_redirect_answer():
    redirect = answer(302, "", [("Location", "https://app.example/cb?code=c&state=s")])
    TesseraIssuerParameter("https://idp.example/").add_issuer_parameter(None, redirect)
    assert redirect.location == (
        "https://app.example/cb?code=c&state=s&iss=https%3A%2F%2Fidp.example%2F"
    )
    assert [k for k, _ in redirect.headers] == ["Location"]


def test_rfc9207_2_answers_without_a_redirect_are_left_alone():
    plain = answer(400, {"error": "invalid_request"}, [])
    TesseraIssuerParameter("https://idp.example/").add_issuer_parameter(None, plain)
    assert plain.location is None and plain.headers == []


def test_to_flask_keeps_status_body_and_headers():
    response = to_flask(answer(302, "", [("Location", "https://app.example/cb")]))
    assert response.status_code == 302 and response.headers["Location"] == "https://app.example/cb"
