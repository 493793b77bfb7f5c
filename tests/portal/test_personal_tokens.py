"""Personal access tokens end to end: made on /developers/tokens, accepted by /api/v1 only,
driving every management API operation (issue 15, docs/security.md#31). Both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models import AccessRequest, AuditEvent, PersonalAccessToken, User
from tests.conftest import AuthActions, csrf_token
from tests.portal.test_developer_fixtures import load_client, register_user
from tests.portal.test_management_api import NEW_BOT, Api

TOKEN_RE = re.compile(r'id="new-token"[^>]*value="([^"]+)"')


def make_pat(browser, scopes=("apps:manage",), days: int = 30, name: str = "ci") -> str:
    """Create a token on the tokens page (signed in already) and read it off the next page."""
    data = {
        "csrf_token": csrf_token(browser, "/developers/tokens"),
        "name": name,
        "scopes": list(scopes),
        "expires_in_days": str(days),
    }
    created = browser.post("/developers/tokens", data=data)
    assert created.status_code == 303, created.get_data(as_text=True)[:500]
    page = browser.get("/developers/tokens")
    assert page.headers["Cache-Control"] == "no-store"
    return TOKEN_RE.search(page.get_data(as_text=True)).group(1)


def signed_in_as(app, username: str):
    register_user(app, username)
    browser = app.test_client()
    assert AuthActions(browser).login(login=username).status_code == 303
    return browser


@pytest.fixture
def dev(app, client, auth, user):
    assert auth.login().status_code == 303
    return client


@pytest.fixture
def api(app, dev) -> Api:
    return Api(app, make_pat(dev))


def audit_events(app, prefix: str) -> list[str]:
    with app.app_context():
        rows = db.session.query(AuditEvent.event).filter(AuditEvent.event.like(f"{prefix}%"))
        return [e for (e,) in rows.order_by(AuditEvent.id)]


def test_token_is_shown_once_stored_hashed_and_listed(app, dev):
    token = make_pat(dev, scopes=["apps:read"], days=7, name="read-only script")
    assert token.startswith("tsr_pat_")
    page = dev.get("/developers/tokens").get_data(as_text=True)
    assert token not in page and "read-only script" in page and "never" in page
    with app.app_context():
        row = db.session.query(PersonalAccessToken).one()
        assert token.rsplit("_", 1)[-1] not in (row.secret_digest, row.public_id)
        assert row.expires_at - row.created_at == timedelta(days=7)
    assert audit_events(app, "personal_token.") == ["personal_token.created"]
    index = dev.get("/developers").get_data(as_text=True)
    assert 'href="/developers/tokens"' in index


def test_the_form_refuses_bad_input_with_400(app, dev):
    data = {"csrf_token": csrf_token(dev, "/developers/tokens"), "name": "", "scopes": ["x"]}
    response = dev.post("/developers/tokens", data=data)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(PersonalAccessToken).count() == 0


def test_tokens_page_needs_a_sign_in(app):
    response = app.test_client().get("/developers/tokens")
    assert response.status_code in (302, 303)


def test_checklist_31_personal_access_token_drives_every_api_operation(app, api, user):
    # Apps: create, list, show, edit.
    created = api("POST", "/apps", json=NEW_BOT)
    assert created.status_code == 201, created.get_json()
    cid = created.get_json()["client_id"]
    assert [a["client_id"] for a in api("GET", "/apps").get_json()["apps"]] == [cid]
    assert api("GET", f"/apps/{cid}").get_json()["name"] == "Price Bot"
    assert api("PATCH", f"/apps/{cid}", json={"name": "Renamed"}).get_json()["name"] == "Renamed"
    # Secrets: rotate with the default grace of an hour, then end the grace now.
    rotated = api("POST", f"/apps/{cid}/rotate-secret").get_json()
    assert rotated["grace_seconds"] == 3600 and len(rotated["secrets"]) == 2
    assert len(api("POST", f"/apps/{cid}/revoke-old-secrets").get_json()["secrets"]) == 1
    # Access requests: file, list, withdraw.
    why = "Our traders need the higher limits."
    filed = api("POST", f"/apps/{cid}/access-requests", json={"kind": "tier", "tier": "partner",
                                                                "justification": why})  # fmt: skip
    assert filed.status_code == 201 and filed.get_json()["status"] == "pending"
    rid = filed.get_json()["id"]
    listed = api("GET", f"/apps/{cid}/access-requests").get_json()["access_requests"]
    assert [r["id"] for r in listed] == [rid]
    withdrawn = api("POST", f"/apps/{cid}/access-requests/{rid}/withdraw")
    assert withdrawn.get_json()["status"] == "withdrawn"
    assert api("POST", f"/apps/{cid}/access-requests/{rid}/withdraw").status_code == 409
    # Members and invitations: invite, the invitee accepts (with their own token), remove.
    olga = Api(app, make_pat(signed_in_as(app, "olga")))
    invited = api("POST", f"/apps/{cid}/members", json={"username": "olga"})
    assert invited.status_code == 202
    [invitation] = olga("GET", "/invitations").get_json()["invitations"]
    assert (invitation["client_id"], invitation["role"]) == (cid, "developer")
    assert olga("POST", f"/invitations/{invitation['id']}/accept").status_code == 200
    members = api("GET", f"/apps/{cid}/members").get_json()["members"]
    assert [(m["username"], m["role"]) for m in members] == [("trader", "owner"), ("olga", "developer")]  # fmt: skip
    assert olga("GET", f"/apps/{cid}").status_code == 200
    olga_id = members[1]["user_id"]
    assert olga("DELETE", f"/apps/{cid}/members/{olga_id}").status_code == 403  # not an owner
    assert olga("DELETE", f"/apps/{cid}").status_code == 403
    assert api("DELETE", f"/apps/{cid}/members/{olga_id}").status_code == 204
    assert olga("GET", f"/apps/{cid}").status_code == 404
    api("POST", f"/apps/{cid}/members", json={"username": "olga", "role": "owner"})
    [again] = olga("GET", "/invitations").get_json()["invitations"]
    assert olga("POST", f"/invitations/{again['id']}/decline").status_code == 204
    assert olga("GET", "/invitations").get_json() == {"invitations": []}
    # Usage, then delete.
    usage = api("GET", f"/apps/{cid}/usage").get_json()
    assert len(usage["days"]) == 30 and usage["total"] == 0 and usage["last_used"] is None
    assert api("DELETE", f"/apps/{cid}").status_code == 204
    assert load_client(app, cid) is None
    assert audit_events(app, "access_request.") == [
        "access_request.created",
        "access_request.withdrawn",
    ]
    with app.app_context():
        assert db.session.query(AccessRequest).count() == 0  # gone with the app


def test_a_read_only_token_reads_but_is_refused_on_every_write(app, dev, api):
    cid = api("POST", "/apps", json=NEW_BOT).get_json()["client_id"]
    reader = Api(app, make_pat(dev, scopes=["apps:read"]))
    for path in ("/apps", f"/apps/{cid}", f"/apps/{cid}/members", f"/apps/{cid}/usage",
                 f"/apps/{cid}/access-requests", "/invitations"):  # fmt: skip
        assert reader("GET", path).status_code == 200, path
    for method, path, body in [
        ("POST", "/apps", NEW_BOT),
        ("PATCH", f"/apps/{cid}", {"name": "x"}),
        ("DELETE", f"/apps/{cid}", None),
        ("POST", f"/apps/{cid}/rotate-secret", None),
        ("POST", f"/apps/{cid}/revoke-old-secrets", None),
        ("POST", f"/apps/{cid}/members", {"username": "olga"}),
        ("POST", f"/apps/{cid}/access-requests", {"kind": "tier"}),
    ]:
        response = reader(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert response.get_json()["error"] == "insufficient_scope"
        assert 'scope="apps:manage"' in response.headers["WWW-Authenticate"]
    assert load_client(app, cid).name == "Price Bot"


def _refused(response) -> None:
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "garble",
    [
        lambda t: t[:-2],
        lambda t: t.replace("tsr_pat_", "tsr_pat_x"),
        lambda t: "tsr_pat_" + "0" * 16 + "_" + t.rsplit("_", 1)[-1],
        lambda t: "tsr_pat_",
        lambda t: t + "é" * 100,
    ],
)
def test_garbled_token_is_401_with_www_authenticate(app, api, garble):
    _refused(api("GET", "/apps", token=garble(api.token)))


def test_expired_token_is_401(app, dev):
    api = Api(app, make_pat(dev, days=7))
    assert api("GET", "/apps").status_code == 200
    with freeze_time(datetime.now(UTC) + timedelta(days=7, seconds=5)):
        _refused(api("GET", "/apps"))


def test_revoked_token_is_401_and_revoking_is_audited(app, dev, api):
    with app.app_context():
        public_id = db.session.query(PersonalAccessToken.public_id).scalar()
    token = csrf_token(dev, "/developers/tokens")
    revoked = dev.post(f"/developers/tokens/{public_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    _refused(api("GET", "/apps"))
    assert audit_events(app, "personal_token.") == [
        "personal_token.created",
        "personal_token.revoked",
    ]


def test_another_developer_cannot_revoke_my_token(app, api):
    with app.app_context():
        public_id = db.session.query(PersonalAccessToken.public_id).scalar()
    olga = signed_in_as(app, "olga")
    token = csrf_token(olga, "/developers/tokens")
    olga.post(f"/developers/tokens/{public_id}/revoke", data={"csrf_token": token})
    assert api("GET", "/apps").status_code == 200


def test_a_disabled_users_tokens_stop_working(app, api, user):
    assert api("GET", "/apps").status_code == 200
    with app.app_context():
        db.session.query(User).filter_by(username="trader").one().disabled_at = utcnow()
        db.session.commit()
    _refused(api("GET", "/apps"))


def test_checklist_31_a_personal_token_is_refused_by_userinfo(app, api):
    response = app.test_client().get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status_code == 401
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_last_use_is_recorded_and_shown(app, dev, api):
    assert api("GET", "/apps").status_code == 200
    with app.app_context():
        last = db.session.query(PersonalAccessToken.last_used_at).scalar()
    assert last is not None and utcnow() - last < timedelta(minutes=1)
    assert last.strftime("%Y-%m-%d %H:%M UTC") in dev.get("/developers/tokens").get_data(
        as_text=True
    )


@pytest.mark.parametrize("public_id", ["%00" * 16, "x" * 5000, "0" * 16])
def test_revoking_a_token_that_is_not_there_is_a_message_not_a_500(app, dev, api, public_id):
    token = csrf_token(dev, "/developers/tokens")
    response = dev.post(f"/developers/tokens/{public_id}/revoke", data={"csrf_token": token})
    assert response.status_code in (303, 400, 404, 414)
    assert api("GET", "/apps").status_code == 200


def test_checklist_24_a_personal_token_in_the_query_string_is_ignored(app, api):
    response = app.test_client().get(f"/api/v1/apps?access_token={api.token}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tessera-api"'
