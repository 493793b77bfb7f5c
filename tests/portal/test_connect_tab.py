"""The Connect tab, the authorize URL builder and "Try it" (issue 15, onboarding)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from tests.conftest import csrf_token
from tests.portal.test_developer_fixtures import create_app_via_portal, signed_in
from tests.security.conftest import CSRF_RE, PENDING_RE

ISSUER = "http://127.0.0.1"  # loopback: the debugger callback is a valid redirect URI


@pytest.fixture
def dev(make_app):
    app = make_app(ISSUER=ISSUER)
    return signed_in(app, "dana")


def page(dev, client_id: str, query: str = "") -> str:
    response = dev.get(f"/developers/apps/{client_id}/connect{query}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def snippet(text: str, key: str) -> str:
    found = re.search(rf'<pre class="code" id="snippet-{key}"[^>]*>(.*?)</pre>', text, re.S)
    assert found, key
    return html.unescape(found.group(1))


def test_connect_tab_shows_issuer_endpoints_and_snippets_filled_in_without_the_secret(dev):
    client_id, secret = create_app_via_portal(dev, name="Trade Helper", app_type="web")
    text = page(dev, client_id)
    assert f"{ISSUER}/.well-known/openid-configuration" in text
    assert f"{ISSUER}/oauth/authorize" in text and f"{ISSUER}/oauth/token" in text
    assert 'aria-current="page">Connect' in text
    python = snippet(text, "python")
    assert repr(client_id) in python and repr("https://app.example.com/callback") in python
    assert 'os.environ["TESSERA_CLIENT_SECRET"]' in python
    compile(python, "snippet", "exec")  # valid Python as shown
    curl = snippet(text, "curl")
    assert "$TESSERA_CLIENT_SECRET" in curl and "code_verifier" in curl
    assert secret and secret not in text  # never in a snippet, never on the page


def test_spa_gets_javascript_and_public_client_snippets(dev):
    client_id, secret = create_app_via_portal(
        dev, name="Overlay", app_type="spa", redirect_uris="http://127.0.0.1:5173/cb"
    )
    assert secret is None
    text = page(dev, client_id)
    js = snippet(text, "javascript")
    assert f'const CLIENT_ID = "{client_id}";' in js
    assert 'const REDIRECT_URI = "http://127.0.0.1:5173/cb";' in js
    assert 'token_endpoint_auth_method="none"' in snippet(text, "python")


def test_service_gets_client_credentials_and_device_gets_device_flow(dev):
    service, _ = create_app_via_portal(
        dev, name="Bot", app_type="service", redirect_uris="", scopes=["ws:connect"]
    )
    text = page(dev, service)
    assert "grant_type=client_credentials" in snippet(text, "curl")
    assert 'grant_type="client_credentials"' in snippet(text, "python")
    assert "Authorize URL builder" not in text
    device, _ = create_app_via_portal(
        dev, name="Terminal", app_type="device", redirect_uris="", scopes=["openid"]
    )
    text = page(dev, device)
    assert "/oauth/device_authorization" in snippet(text, "curl")
    compile(snippet(text, "python"), "snippet", "exec")


def test_a_redirect_uri_is_data_in_every_language(dev):
    uri = "https://app.example.com/cb?next='\"$(id)"
    client_id, _ = create_app_via_portal(dev, name="Q", app_type="spa", redirect_uris=uri)
    text = page(dev, client_id)
    namespace: dict = {}
    python = snippet(text, "python")
    line = next(x for x in python.splitlines() if "redirect_uri=" in x)
    exec(line.strip().replace("redirect_uri=", "value = ").rstrip(","), namespace)  # noqa: S102
    assert namespace["value"] == uri
    assert "'$(id)" not in snippet(text, "curl").replace("'\\''", "")  # shell-quoted


def test_builder_makes_a_fresh_s256_pair_each_time(dev):
    client_id, _ = create_app_via_portal(dev, name="Trade Helper", app_type="web")
    query = "?build=1&scope=openid&scope=profile&redirect_uri=https://app.example.com/callback"
    seen = set()
    for _ in range(2):
        text = page(dev, client_id, query)
        url = html.unescape(re.search(r'id="built-url" type="text" value="([^"]+)"', text)[1])
        verifier = re.search(r'id="built-verifier" type="text" value="([^"]+)"', text)[1]
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert url.startswith(f"{ISSUER}/oauth/authorize?")
        assert params["client_id"] == client_id and params["scope"] == "openid profile"
        assert params["code_challenge_method"] == "S256"
        digest = hashlib.sha256(verifier.encode()).digest()
        assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        seen.add(verifier)
    assert len(seen) == 2


def test_builder_refuses_an_unregistered_redirect_uri(dev):
    client_id, _ = create_app_via_portal(dev, name="Trade Helper", app_type="web")
    text = page(dev, client_id, "?build=1&scope=openid&redirect_uri=https://evil.example/cb")
    assert "Pick one of the app&#39;s registered redirect URIs." in text
    assert 'id="built-url"' not in text


def try_it(dev, client_id: str):
    """Add the debugger callback, start, consent: the response of the debugger callback."""
    token = csrf_token(dev, f"/developers/apps/{client_id}/connect")
    added = dev.post(f"/developers/apps/{client_id}/debugger/register", data={"csrf_token": token})
    assert added.status_code == 303
    assert "Try it</button>" in page(dev, client_id)
    started = dev.post(f"/developers/apps/{client_id}/debugger/start", data={"csrf_token": token})
    assert started.status_code == 303
    consent = dev.get(started.headers["Location"])
    body = consent.get_data(as_text=True)
    decided = dev.post(
        "/oauth/authorize",
        data={"csrf_token": CSRF_RE.search(body)[1], "pending_id": PENDING_RE.search(body)[1],
              "decision": "allow"},
    )  # fmt: skip
    assert decided.status_code == 303
    back = urlsplit(decided.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == (
        f"{ISSUER}/developers/apps/{client_id}/debugger"
    )
    return dev.get(f"{back.path}?{back.query}")


def claims_on(text: str, name: str) -> dict:
    found = re.search(rf'id="{name}-claims">(.*?)</pre>', text, re.S)
    import json

    return json.loads(html.unescape(found[1]))


def test_try_it_for_a_public_app_shows_decoded_tokens(dev, caplog):
    client_id, _ = create_app_via_portal(
        dev, name="Overlay", app_type="spa", redirect_uris="http://127.0.0.1:5173/cb"
    )
    shown = try_it(dev, client_id)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    text = shown.get_data(as_text=True)
    access, id_token = claims_on(text, "access_token"), claims_on(text, "id_token")
    assert access["client_id"] == client_id and id_token["aud"] == client_id
    assert id_token["iss"] == ISSUER
    assert text.count("signature verified") == 2
    assert "nonce matches" in text
    raw = re.search(r'"access_token": "([^&]+)"', html.unescape(text))
    assert raw is None or raw[1] not in caplog.text  # never logged
    assert jwt.get_unverified_header(html.unescape(text).split('"id_token": "')[1].split('"')[0])


def test_try_it_for_a_confidential_app_asks_for_the_secret_once(dev):
    client_id, secret = create_app_via_portal(dev, name="Trade Helper", app_type="web")
    asked = try_it(dev, client_id).get_data(as_text=True)
    assert 'type="password" name="client_secret"' in asked
    form = {
        "csrf_token": CSRF_RE.search(asked)[1],
        "code": html.unescape(re.search(r'name="code" value="([^"]+)"', asked)[1]),
        "state": html.unescape(re.search(r'name="state" value="([^"]+)"', asked)[1]),
    }
    shown = dev.post(
        f"/developers/apps/{client_id}/debugger", data={**form, "client_secret": secret}
    ).get_data(as_text=True)
    assert claims_on(shown, "access_token")["client_id"] == client_id
    assert secret not in shown
    again = dev.post(
        f"/developers/apps/{client_id}/debugger", data={**form, "client_secret": secret}
    ).get_data(as_text=True)
    assert "not the answer to a flow you started here" in again  # one exchange per flow


def test_try_it_refuses_a_callback_it_did_not_start(dev):
    client_id, _ = create_app_via_portal(
        dev, name="Overlay", app_type="spa", redirect_uris="http://127.0.0.1:5173/cb"
    )
    text = dev.get(f"/developers/apps/{client_id}/debugger?code=abc&state=xyz").get_data(
        as_text=True
    )
    assert "not the answer to a flow you started here" in text


def test_try_it_needs_the_callback_registered_and_is_for_members_only(dev, make_app):
    client_id, _ = create_app_via_portal(dev, name="Trade Helper", app_type="web")
    token = csrf_token(dev, f"/developers/apps/{client_id}/connect")
    refused = dev.post(f"/developers/apps/{client_id}/debugger/start", data={"csrf_token": token})
    assert refused.headers["Location"].endswith(f"/developers/apps/{client_id}/connect")
    other = signed_in(dev.application, "eve")
    assert other.get(f"/developers/apps/{client_id}/connect").status_code == 404
    assert other.get(f"/developers/apps/{client_id}/debugger").status_code == 404
