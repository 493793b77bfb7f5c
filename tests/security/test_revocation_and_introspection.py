"""RFC 7009 revocation, RFC 7662 introspection and the revocation feed for resource servers."""

from __future__ import annotations

import base64

import jwt

from idp.services import apps, revocation
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.security.conftest import register_app


def resource_server(app):
    return register_app(
        app,
        apps.ClientSpec(
            name="Market API", app_type="service", scopes=["market:read", "revocations:read"]
        ),
    )


def feed(client, rs, since=None):
    query = {"since": since} if since is not None else {}
    return client.get("/oauth/revocations", query_string=query, headers=rs.basic())


def test_rfc7009_revoking_a_refresh_token_revokes_its_family(app, flow, web_app):
    tokens = flow.tokens(web_app, scope="openid offline_access")
    response = flow.client.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"]}, headers=web_app.basic()
    )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert flow.refresh(web_app, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    rs = resource_server(app)
    jti = jwt.decode(tokens["access_token"], options={"verify_signature": False})["jti"]
    assert jti in [entry["jti"] for entry in feed(flow.client, rs).get_json()["revoked_tokens"]]


def test_rfc7009_revoking_an_access_token_puts_it_in_the_feed(app, flow, web_app):
    tokens = flow.tokens(web_app)
    response = flow.client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        headers=web_app.basic(),
    )
    assert response.status_code == 200
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    body = feed(flow.client, resource_server(app)).get_json()
    assert {"jti": claims["jti"], "exp": claims["exp"]} in body["revoked_tokens"]
    userinfo = flow.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_rfc7009_2_2_unknown_or_foreign_token_still_200(flow, web_app, spa_app):
    tokens = flow.tokens(web_app, scope="openid offline_access")
    assert (
        flow.client.post(
            "/oauth/revoke", data={"token": "garbage"}, headers=web_app.basic()
        ).status_code
        == 200
    )
    foreign = flow.client.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": spa_app.client_id}
    )
    assert foreign.status_code == 200
    assert flow.refresh(web_app, tokens["refresh_token"]).status_code == 200  # untouched


def test_rfc7009_missing_token_is_invalid_request(flow, web_app):
    response = flow.client.post("/oauth/revoke", data={}, headers=web_app.basic())
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_rfc7662_introspection_of_own_access_and_refresh_tokens(flow, web_app):
    tokens = flow.tokens(web_app, scope="openid offline_access")
    access = flow.client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=web_app.basic()
    )
    body = access.get_json()
    assert (
        body["active"] is True
        and body["client_id"] == web_app.client_id
        and body["token_type"] == "Bearer"
    )
    assert {"scope", "sub", "exp", "gid", "tier"} <= set(body)
    refresh = flow.client.post(
        "/oauth/introspect",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers=web_app.basic(),
    )
    assert refresh.get_json()["active"] is True
    assert flow.client.post(
        "/oauth/introspect", data={"token": "nope"}, headers=web_app.basic()
    ).get_json() == {"active": False}


def test_rfc7662_requires_client_authentication(flow, web_app, spa_app):
    tokens = flow.tokens(web_app)
    anonymous = flow.client.post("/oauth/introspect", data={"token": tokens["access_token"]})
    assert anonymous.status_code in (400, 401) and anonymous.get_json()["error"] == "invalid_client"
    public = flow.client.post(
        "/oauth/introspect", data={"token": tokens["access_token"], "client_id": spa_app.client_id}
    )
    assert public.get_json()["error"] == "invalid_client"


def test_rfc7662_other_apps_tokens_are_inactive_unless_resource_server(
    app, flow, web_app, service_app
):
    tokens = flow.tokens(web_app)
    other = flow.client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=service_app.basic()
    )
    assert other.get_json() == {"active": False}
    rs = resource_server(app)
    assert flow.client.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, headers=rs.basic()
    ).get_json()["active"]


def test_feed_requires_resource_server_credentials(app, client, service_app):
    assert client.get("/oauth/revocations").status_code == 401
    forbidden = client.get("/oauth/revocations", headers=service_app.basic())
    assert forbidden.status_code == 403
    wrong = base64.b64encode(b"x:y").decode()
    assert (
        client.get("/oauth/revocations", headers={"Authorization": f"Basic {wrong}"}).status_code
        == 401
    )


def test_feed_snapshot_then_delta_with_cursor(app, flow, web_app, service_app):
    rs = resource_server(app)
    first = feed(flow.client, rs).get_json()
    assert first["full"] is True and first["poll_interval"] == 5 and first["revoked_grants"] == []
    flow.tokens(web_app)
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        grant = uow.grants.active_for_client(uow.clients.by_client_id(web_app.client_id).id)[0]
        from idp.domain.clock import utcnow

        revocation.revoke_grant(uow, app.extensions["tessera"].revocation_window, grant, utcnow())
        apps.suspend(uow, Caller(), uow.clients.by_client_id(service_app.client_id), "abuse")
        uow.commit()
        gid = grant.gid
    delta = feed(flow.client, rs, since=first["cursor"]).get_json()
    assert delta["full"] is False and [g["gid"] for g in delta["revoked_grants"]] == [gid]
    assert delta["suspended_clients"] == [service_app.client_id]
    assert feed(flow.client, rs, since=delta["cursor"]).get_json()["revoked_grants"] == []
    snapshot = feed(flow.client, rs).get_json()
    assert (
        snapshot["suspended_clients"] == [service_app.client_id]
        and snapshot["revoked_grants"][0]["gid"] == gid
    )


def test_feed_unknown_cursor_is_410_invalid_cursor(app, client):
    rs = resource_server(app)
    for bad in ("999999", "abc", "-1"):
        response = feed(client, rs, since=bad)
        assert response.status_code == 410 and response.get_json()["error"] == "invalid_cursor"


def test_checklist_22_grant_revocation_stops_refresh_at_once(app, flow, web_app):
    tokens = flow.tokens(web_app, scope="openid offline_access")
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        grant = uow.grants.active_for_client(uow.clients.by_client_id(web_app.client_id).id)[0]
        from idp.domain.clock import utcnow

        revocation.revoke_grant(uow, app.extensions["tessera"].revocation_window, grant, utcnow())
        uow.commit()
    assert flow.refresh(web_app, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    userinfo = flow.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    # A new authorization makes a new grant with a new id; the revoked gid stays dead.
    fresh = flow.tokens(web_app)
    old_gid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["gid"]
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["gid"] != old_gid


def test_rfc7662_introspection_and_userinfo_see_every_way_an_access_token_ends(
    app, flow, web_app, service_app
):
    """One read decides (idp.storage.repositories.revocations): jti, grant, app."""
    from idp.domain.clock import utcnow
    from idp.extensions import db

    rs = resource_server(app)

    def active(token: str) -> bool:
        body = flow.client.post("/oauth/introspect", data={"token": token}, headers=rs.basic())
        return body.get_json()["active"]

    def userinfo(token: str) -> int:
        return flow.client.get(
            "/oauth/userinfo", headers={"Authorization": f"Bearer {token}"}
        ).status_code

    machine = flow.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service_app.basic()
    ).get_json()["access_token"]
    assert active(machine)  # no gid: only the app and the jti matter

    by_jti = flow.tokens(web_app, scope="openid")["access_token"]
    assert active(by_jti) and userinfo(by_jti) == 200
    flow.client.post("/oauth/revoke", data={"token": by_jti}, headers=web_app.basic())
    assert not active(by_jti) and userinfo(by_jti) == 401

    by_grant = flow.tokens(web_app, scope="openid")["access_token"]
    gid = jwt.decode(by_grant, options={"verify_signature": False})["gid"]
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        grant = uow.grants.by_gid(gid)
        revocation.revoke_grant(uow, app.extensions["tessera"].revocation_window, grant, utcnow())
        uow.commit()
    assert not active(by_grant) and userinfo(by_grant) == 401

    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        revocation.suspend_client(
            uow, uow.clients.by_client_id(service_app.client_id), "t", utcnow()
        )
        uow.commit()
    assert not active(machine)

    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        db.session.delete(uow.clients.by_client_id(service_app.client_id))
        uow.commit()
    assert not active(machine)  # an app that is gone
