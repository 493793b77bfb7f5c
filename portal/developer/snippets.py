"""Copy-ready code for an app's Connect tab, filled with its real client id and redirect URI.

Plain functions of plain values, so a test can run exactly what the page shows. Values are
quoted for the language they land in (repr for Python, JSON for JavaScript, shlex for shell):
a redirect URI is data, never code. A client secret is never written into a snippet: Tessera
does not have it (only its hash), and a snippet gets pasted into chats and repositories; the
snippets read it from the TESSERA_CLIENT_SECRET environment variable instead.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from urllib.parse import urlencode

SECRET_VARIABLE = "TESSERA_CLIENT_SECRET"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class Snippet:
    key: str  # the element id on the page, and the test's handle
    title: str
    language: str
    code: str


@dataclass(frozen=True)
class AppFacts:
    issuer: str
    client_id: str
    app_type: str
    confidential: bool
    redirect_uri: str
    scope: str

    @property
    def base(self) -> str:
        return self.issuer.rstrip("/")


def snippets_for(facts: AppFacts) -> list[Snippet]:
    """The snippets that fit the app type's grants (idp.domain.grants)."""
    if facts.app_type == "service":
        return [_curl_client_credentials(facts), _python_client_credentials(facts)]
    if facts.app_type == "device":
        return [_curl_device(facts), _python_device(facts)]
    found = [_curl_code(facts), _python_code(facts)]
    if facts.app_type == "spa":
        found.append(_javascript_spa(facts))
    return found


def _py_secret(facts: AppFacts) -> str:
    if not facts.confidential:
        return '    token_endpoint_auth_method="none",  # a public client: PKCE, no secret\n'
    return (
        f'    client_secret=os.environ["{SECRET_VARIABLE}"],  # from the Credentials tab; '
        "never in code\n"
    )


def _python_code(f: AppFacts) -> Snippet:
    code = f"""# Sign in with Tessera: authorization code + PKCE.  pip install authlib requests
import json
import os

from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

ISSUER = {f.base!r}
client = OAuth2Session(
    client_id={f.client_id!r},
{_py_secret(f)}    scope={f.scope!r},
    redirect_uri={f.redirect_uri!r},
    code_challenge_method="S256",
)
code_verifier = generate_token(48)  # a fresh PKCE verifier for every sign-in
url, state = client.create_authorization_url(
    ISSUER + "/oauth/authorize", code_verifier=code_verifier
)
print("Open this URL in your browser and sign in:", url, flush=True)
callback = input("Paste the full URL you were sent back to: ")
token = client.fetch_token(
    ISSUER + "/oauth/token",
    authorization_response=callback,
    state=state,
    code_verifier=code_verifier,
)
print("Token response keys:", sorted(token))
print(json.dumps(client.get(ISSUER + "/oauth/userinfo").json()))
"""
    return Snippet("python", "Python (Authlib)", "python", code)


def _curl_auth(f: AppFacts) -> str:
    if f.confidential:
        return f'-u {shlex.quote(f.client_id)}:"${SECRET_VARIABLE}"'
    return f"-d client_id={shlex.quote(f.client_id)}"


def _curl_code(f: AppFacts) -> Snippet:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": f.client_id,
            "redirect_uri": f.redirect_uri,
            "scope": f.scope,
        }
    )
    code = f"""# 1. A fresh PKCE pair, then open the printed URL in a browser and sign in.
CODE_VERIFIER=$(openssl rand -base64 60 | tr -dc 'A-Za-z0-9' | cut -c1-64)
CODE_CHALLENGE=$(printf '%s' "$CODE_VERIFIER" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
STATE=$(openssl rand -hex 16)
echo {shlex.quote(f.base + "/oauth/authorize?" + query)}"&state=$STATE&code_challenge=$CODE_CHALLENGE&code_challenge_method=S256"

# 2. You are sent back to the redirect URI with ?code=...&state=...: check the state, then
CODE=paste-the-code-here
curl -s {shlex.quote(f.base + "/oauth/token")} {_curl_auth(f)} \\
  -d grant_type=authorization_code -d code="$CODE" -d code_verifier="$CODE_VERIFIER" \\
  --data-urlencode redirect_uri={shlex.quote(f.redirect_uri)}
"""
    return Snippet("curl", "curl", "shell", code)


def _javascript_spa(f: AppFacts) -> Snippet:
    code = f"""<!doctype html>
<!-- Serve this page at the redirect URI below: it signs in with PKCE and calls userinfo. -->
<meta charset="utf-8">
<title>Sign in with Tessera</title>
<button id="sign-in">Sign in with Tessera</button>
<pre id="result"></pre>
<script type="module">
const ISSUER = {json.dumps(f.base)};
const CLIENT_ID = {json.dumps(f.client_id)};
const REDIRECT_URI = {json.dumps(f.redirect_uri)};
const SCOPE = {json.dumps(f.scope)};

const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const random = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));

document.getElementById("sign-in").addEventListener("click", async () => {{
  const verifier = random(32), state = random(16);
  sessionStorage.setItem("tessera_pkce", JSON.stringify({{ verifier, state }}));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const url = new URL(ISSUER + "/oauth/authorize");
  url.search = new URLSearchParams({{
    response_type: "code", client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: SCOPE,
    state, code_challenge: base64url(digest), code_challenge_method: "S256",
  }});
  location.assign(url);
}});

const params = new URLSearchParams(location.search);
const saved = JSON.parse(sessionStorage.getItem("tessera_pkce") || "null");
if (params.get("code") && saved && params.get("state") === saved.state) {{
  sessionStorage.removeItem("tessera_pkce");
  history.replaceState(null, "", location.pathname);  // the code leaves the address bar
  const response = await fetch(ISSUER + "/oauth/token", {{
    method: "POST",
    body: new URLSearchParams({{
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: REDIRECT_URI,
      client_id: CLIENT_ID, code_verifier: saved.verifier,
    }}),
  }});
  const token = await response.json();
  const me = await fetch(ISSUER + "/oauth/userinfo", {{
    headers: {{ Authorization: "Bearer " + token.access_token }},
  }});
  document.getElementById("result").textContent = JSON.stringify(await me.json(), null, 2);
}}
</script>
"""
    return Snippet("javascript", "JavaScript (single-page app)", "html", code)


def _curl_client_credentials(f: AppFacts) -> Snippet:
    code = f"""# The app acts for itself: no user, no browser.
curl -s {shlex.quote(f.base + "/oauth/token")} {_curl_auth(f)} \\
  -d grant_type=client_credentials -d scope={shlex.quote(f.scope)}
"""
    return Snippet("curl", "curl", "shell", code)


def _python_client_credentials(f: AppFacts) -> Snippet:
    code = f"""# The app acts for itself: client_credentials.  pip install authlib requests
import os

from authlib.integrations.requests_client import OAuth2Session

ISSUER = {f.base!r}
client = OAuth2Session(
    client_id={f.client_id!r},
    client_secret=os.environ["{SECRET_VARIABLE}"],  # from the Credentials tab; never in code
    scope={f.scope!r},
)
token = client.fetch_token(ISSUER + "/oauth/token", grant_type="client_credentials")
print("access token expires in", token["expires_in"], "seconds; scope:", token.get("scope"))
"""
    return Snippet("python", "Python (Authlib)", "python", code)


def _curl_device(f: AppFacts) -> Snippet:
    code = f"""# 1. Ask for a code; show the user verification_uri and user_code.
curl -s {shlex.quote(f.base + "/oauth/device_authorization")} \\
  -d client_id={shlex.quote(f.client_id)} -d scope={shlex.quote(f.scope)}

# 2. Poll every `interval` seconds until the user approves (authorization_pending until then).
DEVICE_CODE=paste-the-device_code-here
curl -s {shlex.quote(f.base + "/oauth/token")} -d client_id={shlex.quote(f.client_id)} \\
  -d grant_type={DEVICE_GRANT} -d device_code="$DEVICE_CODE"
"""
    return Snippet("curl", "curl", "shell", code)


def _python_device(f: AppFacts) -> Snippet:
    code = f"""# The device flow (RFC 8628) for a device or CLI.  pip install requests
import time

import requests

ISSUER = {f.base!r}
CLIENT_ID = {f.client_id!r}
start = requests.post(
    ISSUER + "/oauth/device_authorization", data={{"client_id": CLIENT_ID, "scope": {f.scope!r}}}
).json()
print("Open", start["verification_uri"], "and enter", start["user_code"], flush=True)
interval = start.get("interval", 5)
while True:
    time.sleep(interval)
    token = requests.post(
        ISSUER + "/oauth/token",
        data={{"grant_type": {DEVICE_GRANT!r}, "device_code": start["device_code"],
              "client_id": CLIENT_ID}},
    ).json()
    if token.get("error") == "authorization_pending":
        continue
    if token.get("error") == "slow_down":
        interval += 5
        continue
    break
print(sorted(token))
"""
    return Snippet("python", "Python (requests)", "python", code)
