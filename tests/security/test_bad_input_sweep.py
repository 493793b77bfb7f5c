"""Bad input never gets a 500: every route, every method, with junk parameters and bodies."""

from __future__ import annotations

import re

import pytest

from idp.protocol.machine_endpoints import ENDPOINTS

JUNK_QUERIES = [
    "",
    "client_id=%FF%FE&redirect_uri=%00&scope=%C3%28",
    "response_type=code&client_id=x&client_id=y",
    "since=-1&user_code=%00%01&token=" + "A" * 3000,
    "id_token_hint=a.b.c&post_logout_redirect_uri=javascript:alert(1)&max_age=-5&prompt=%0A",
]
JUNK_BODIES = [
    (b"", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00garbage=\xc3\x28&&&==", "application/x-www-form-urlencoded"),
    (b'{"grant_type": ["client_credentials"], "token": {"a": 1}}', "application/json"),
    (
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
    ),
    (b"<xml/>", "text/xml"),
]
HEADERS = [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic !!!notbase64"},
    {"Authorization": "Basic " + "eDo=" * 10},
    {"Authorization": "Bearer a.b.c", "Cookie": "tessera=forged.cookie.value"},
]


def concrete_paths(app) -> list[tuple[str, set[str]]]:
    # The machine endpoints are answered in front of Flask's router (idp.protocol.machine_endpoints).
    paths = [(path, {"GET", "POST", "PUT"}) for path in ENDPOINTS]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "zzz-unknown", rule.rule)
        paths.append((path, set(rule.methods or ()) - {"HEAD", "OPTIONS"}))
    return paths


def test_no_route_answers_500_to_junk(app, client):
    failures = []
    for path, methods in concrete_paths(app):
        for method in methods:
            for i, query in enumerate(JUNK_QUERIES):
                headers = HEADERS[i % len(HEADERS)]
                if method == "GET":
                    response = client.open(f"{path}?{query}", method=method, headers=headers)
                    if response.status_code >= 500:
                        failures.append((method, path, query[:60], response.status_code))
                    continue
                body, content_type = JUNK_BODIES[i % len(JUNK_BODIES)]
                response = client.open(
                    f"{path}?{query}",
                    method=method,
                    data=body,
                    content_type=content_type,
                    headers=headers,
                )
                if response.status_code >= 500:
                    failures.append((method, path, query[:60], response.status_code))
    assert failures == []


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_protocol_endpoints_answer_json_errors_to_junk(client, path):
    for body, content_type in JUNK_BODIES:
        response = client.post(path, data=body, content_type=content_type)
        assert 400 <= response.status_code < 500
        assert "error" in response.get_json()
