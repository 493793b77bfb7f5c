"""Fuzzing every form and query endpoint: no input gets a 5xx (issue 12 item 11).

Hypothesis builds requests from each endpoint's own parameter names (plus a stranger) with
values that broke parsers before: raw bytes that are not UTF-8, lone surrogates, NUL and other
control characters, ``²``, quotes and backslashes, very long text, and the real values of a
signed-in session (client ids, redirect URIs), so requests get past the first check too.
Requests go through Flask's test client on both databases, with a fixed seed (derandomize)
and a bounded number of examples: FUZZ_EXAMPLES (default 40) per endpoint. A 5xx fails with the
request printed. CSRF is off in this app, so form posts reach validation and the services
(tests/security/test_bad_input_sweep.py covers requests without a CSRF token).
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.services import apps
from tests.conftest import PASSWORD, AuthActions
from tests.portal.test_admin_fixtures import register
from tests.portal.test_developer_fixtures import image_bytes
from tests.security.conftest import WEB_REDIRECT, App, register_app

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
INTERESTING = [
    "", "0", "-1", "1", "\u00b2", "\u0663", "99999999999999999999", "1e9", "\x00", "a\x00b",
    "\x1b[31m", "\x7f", '"', "\\", "'", "<script>", "%", "%00", "+", "&", "=", "\u00e9",
    "\ufeff", "\u202e", "\ufffd", " ", "\t\n", "A" * 5000, "null", "true", "[]", "{}",
    "openid", "openid profile email offline_access orders:read", "market:read", "S256", "plain",
    "code", "token", "id_token", "query", "fragment", "none", "login", "consent",
    "client_credentials", "authorization_code", "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code", "access_token", "refresh_token",
    WEB_REDIRECT, "http://127.0.0.1:1/cb", "javascript:alert(1)", "allow", "deny", "yes",
    "web", "spa", "native", "service", "developer", "owner", "approve", "reject", "free",
    "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "BCDF-GHJK", "trader", "trader@example.com",
]  # fmt: skip


@dataclass
class Target:
    method: str
    path: str  # {client_id}, {user_id}, {gid}, {request_id} are filled from the session
    fields: list[str]
    auth: str = "none"  # "basic": the service app's credentials, sometimes fuzzed ones
    query: bool = False  # POST parameters in the query string as well
    upload: bool = False  # sent as multipart/form-data with a fuzzed logo file

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}{' multipart' if self.upload else ''}"


AUTHORIZE = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
             "code_challenge", "code_challenge_method", "prompt", "max_age", "response_mode",
             "resource", "login_hint", "request", "request_uri", "claims", "ui_locales"]  # fmt: skip
TOKEN = ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
         "client_id", "client_secret", "device_code", "resource", "audience"]  # fmt: skip
DETAILS = ["name", "description", "homepage_url", "privacy_url", "tos_url", "redirect_uris",
           "post_logout_redirect_uris", "scopes"]  # fmt: skip
TARGETS = [
    Target("GET", "/oauth/authorize", AUTHORIZE),
    Target("POST", "/oauth/authorize", ["pending_id", "decision", *AUTHORIZE], query=True),
    Target("POST", "/oauth/token", TOKEN, auth="basic"),
    Target("POST", "/oauth/revoke", ["token", "token_type_hint", "client_id"], auth="basic"),
    Target("POST", "/oauth/introspect", ["token", "token_type_hint", "client_id"], auth="basic"),
    Target("POST", "/oauth/device_authorization", ["client_id", "scope", "resource"], "basic"),
    Target("GET", "/oauth/revocations", ["since"], auth="basic"),
    Target(
        "GET",
        "/oauth/logout",
        ["id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales"],
    ),
    Target("GET", "/oauth/userinfo", ["access_token", "schema"]),
    Target("GET", "/device", ["user_code"]),
    Target("POST", "/device", ["user_code"]),
    Target("POST", "/device/decide", ["pending_id", "decision"]),
    Target("GET", "/login", ["next"]),
    Target("POST", "/login", ["login", "password", "next"], query=True),
    Target("POST", "/register", ["username", "email", "password", "next"]),
    Target("POST", "/account/password", ["current_password", "new_password", "confirm"]),
    Target("POST", "/account/apps/{gid}/revoke", ["confirm"]),
    Target(
        "POST", "/developers/apps/new", [*DETAILS, "app_type", "restricted_scopes", "justification"]
    ),
    Target("POST", "/developers/apps/{client_id}/edit", DETAILS),
    Target("POST", "/developers/apps/new", ["name", "app_type", "scopes"], upload=True),
    Target("POST", "/developers/apps/{client_id}/edit", ["name", "description"], upload=True),
    Target(
        "POST", "/developers/apps/{client_id}/access", ["kind", "scopes", "tier", "justification"]
    ),
    Target("POST", "/developers/apps/{client_id}/members", ["username", "role"]),
    Target("POST", "/developers/apps/{client_id}/secret/rotate", ["grace"]),
    Target("POST", "/developers/apps/{client_id}/delete", ["confirm_name"]),
    Target("GET", "/admin/apps", ["q", "page", "status"]),
    Target("GET", "/admin/users", ["q", "page"]),
    Target("GET", "/admin/audit", ["event", "user", "app", "since", "until", "page"]),
    Target("GET", "/admin/requests", ["status", "page"]),
    Target("POST", "/admin/apps/{client_id}/limits", ["tier", "custom_rps", "custom_burst"]),
    Target("POST", "/admin/apps/{client_id}/suspend", ["reason"]),
    Target("POST", "/admin/apps/{client_id}/verified", ["verified"]),
    Target("POST", "/admin/requests/{request_id}/decide", ["decision", "reason"]),
    Target("POST", "/admin/users/{user_id}/admin", ["admin"]),
    Target("POST", "/admin/users/{user_id}/disable", ["reason"]),
]


@dataclass
class Session:
    browser: object
    service: App
    web: App
    ids: dict[str, str]
    values: list[str] = field(default_factory=list)


@pytest.fixture
def session(make_app) -> Session:
    """A signed-in admin who owns a web app, a service app, and another user to act on."""
    app = make_app()
    owner_id = register(app, "fuzzadmin", admin=True)
    other = register(app, "bystander")
    browser = app.test_client()
    assert AuthActions(browser).login(login="fuzzadmin").status_code == 303
    app.config["WTF_CSRF_ENABLED"] = False  # after sign-in, which reads a token off the page
    web = register_app(
        app,
        apps.ClientSpec(
            name="Fuzz Web",
            app_type="web",
            redirect_uris=[WEB_REDIRECT],
            scopes=["openid", "profile", "email", "offline_access", "orders:read"],
        ),
        owner_id=owner_id,
    )
    service = register_app(
        app,
        apps.ClientSpec(
            name="Fuzz Bot",
            app_type="service",
            scopes=["market:read", "revocations:read"],
        ),
        owner_id=owner_id,
    )
    ids = {"client_id": web.client_id, "user_id": str(other), "gid": "1", "request_id": "1"}
    values = [web.client_id, service.client_id, service.secret or "", str(other), "Fuzz Web",
              "fuzzadmin", "bystander", PASSWORD, "correct horse battery staple 2"]  # fmt: skip
    return Session(browser, service, web, ids, values)


def encode(value: str | bytes) -> str:
    """Percent-encoded, so any bytes (not UTF-8, lone surrogates as CESU-8) reach the server."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return quote(raw, safe="")


def values(extra: list[str]) -> st.SearchStrategy:
    """Plausible values three times in four, so requests also get past the first check."""
    plausible = st.sampled_from(INTERESTING + extra)
    junk = st.one_of(
        st.text(max_size=30),
        st.text(st.characters(codec=None, categories=["Cs", "Cc", "No", "Nd"]), max_size=8),
        st.binary(max_size=16),
    )
    return st.one_of(plausible, plausible, plausible, junk)


def parameters(fields: list[str], extra: list[str]) -> st.SearchStrategy:
    """Any subset of the endpoint's parameters, then up to two repeated or stranger ones."""
    form = st.fixed_dictionaries({}, optional={name: values(extra) for name in fields})
    names = st.sampled_from([*fields, "zz", "\x00", "\u00b2"])
    strangers = st.lists(st.tuples(names, values(extra)), max_size=2)
    return st.tuples(form, strangers).map(lambda both: [*both[0].items(), *both[1]])


def basic_headers(service: App) -> st.SearchStrategy:
    junk = st.binary(max_size=24).map(lambda raw: "Basic " + base64.b64encode(raw).decode())
    return st.one_of(
        st.just({}),
        st.just(service.basic()),
        junk.map(lambda header: {"Authorization": header}),
        st.sampled_from(INTERESTING).map(lambda v: {"Authorization": "Basic " + encode(v)}),
    )


def logos() -> st.SearchStrategy:
    """(bytes, file name): junk, a truncated image, a real PNG, and file names that are not text."""
    png = image_bytes()
    content = st.one_of(st.binary(max_size=64), st.just(png), st.just(png[:40]))
    name = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=20)).map(_as_text)
    return st.tuples(content, name)


def _as_text(value: str | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def send_multipart(session: Session, target: Target, pairs: list, logo: tuple[bytes, str]):
    data: dict = {_as_text(k): _as_text(v) for k, v in pairs}
    data["logo"] = (io.BytesIO(logo[0]), logo[1])
    path = target.path.format(**session.ids)
    return session.browser.post(path, data=data, content_type="multipart/form-data")


def send(session: Session, target: Target, pairs: list, headers: dict):
    path = target.path.format(**session.ids)
    encoded = "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)
    if target.method == "GET":
        return session.browser.open(path, method="GET", query_string=encoded, headers=headers)
    query = encoded if target.query and len(pairs) % 2 else ""
    return session.browser.open(
        f"{path}?{query}" if query else path,
        method=target.method,
        data=encoded.encode(),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.id)
def test_fuzz_no_input_gets_a_5xx(session, target):
    pairs = parameters(target.fields, session.values)
    headers = basic_headers(session.service) if target.auth == "basic" else st.just({})

    @FUZZ_SETTINGS
    @given(pairs=pairs, headers=headers, logo=logos())
    def run(pairs, headers, logo):
        if target.upload:
            response = send_multipart(session, target, pairs, logo)
        else:
            response = send(session, target, pairs, headers)
        assert response.status_code < 500, (
            f"{target.method} {target.path} {pairs!r} {headers!r} -> {response.status_code}: "
            f"{response.get_data()[:300]!r}"
        )

    run()
