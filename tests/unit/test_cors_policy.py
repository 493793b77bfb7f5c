"""idp.domain.cors: which browser origins may read the answers an SPA needs."""

from __future__ import annotations

import pytest

from idp.domain.cors import (
    TOKEN_PREFLIGHT,
    allowed_origins,
    is_cross_origin,
    origin_allowed,
    origin_of,
    preflight_headers,
)


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://app.example/callback?x=1", "https://app.example"),
        ("https://App.Example:443/cb", "https://app.example"),
        ("https://app.example:8443/cb", "https://app.example:8443"),
        ("http://127.0.0.1:5173/cb", "http://127.0.0.1:5173"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
        ("com.example.app:/callback", None),
        ("https://user:pw@app.example/cb", None),
        ("https://app.example:99999/cb", None),
        ("not a url", None),
    ],
)
def test_origin_of_a_redirect_uri(uri, origin):
    assert origin_of(uri) == origin


def test_an_spa_is_allowed_exactly_its_redirect_uris_origins():
    uris = ["https://app.example/cb", "https://app.example/other", "http://127.0.0.1:5173/cb"]
    assert allowed_origins("spa", uris) == {"https://app.example", "http://127.0.0.1:5173"}
    assert origin_allowed("https://app.example", "spa", uris)
    assert not origin_allowed("https://evil.example", "spa", uris)
    assert not origin_allowed("https://app.example.evil.example", "spa", uris)
    assert not origin_allowed("http://app.example", "spa", uris)  # another scheme
    assert not origin_allowed("http://127.0.0.1:5174", "spa", uris)  # another port
    assert not origin_allowed("null", "spa", uris)
    assert not origin_allowed(None, "spa", uris)
    assert not origin_allowed("https://APP.example", "spa", uris)  # not as a browser sends it


@pytest.mark.parametrize("app_type", ["web", "native", "service", "device"])
def test_only_spas_get_cors(app_type):
    assert allowed_origins(app_type, ["https://app.example/cb"]) == frozenset()
    assert not origin_allowed("https://app.example", app_type, ["https://app.example/cb"])


def test_same_origin_requests_are_not_cross_origin():
    own = {"https://id.example"}
    assert not is_cross_origin(None, own)
    assert not is_cross_origin("https://id.example", own)
    assert is_cross_origin("https://app.example", own)


def test_preflight_grants_methods_headers_and_max_age_and_varies_on_origin():
    granted = dict(preflight_headers("https://app.example", TOKEN_PREFLIGHT))
    assert granted["Access-Control-Allow-Origin"] == "https://app.example"
    assert granted["Access-Control-Allow-Methods"] == "POST"
    assert granted["Access-Control-Allow-Headers"] == "Content-Type"
    assert granted["Access-Control-Max-Age"] == "600"
    assert granted["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in granted
    assert preflight_headers(None, TOKEN_PREFLIGHT) == [("Vary", "Origin")]
