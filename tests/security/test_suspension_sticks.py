"""Issue 12 item 8 (docs/security.md#22): tokens issued before an app's suspension stay
revoked after it is unsuspended, at userinfo and introspection (the IdP's own check) and for
resource servers (the revocation feed and the middleware that reads it)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from tessera_middleware import RevocationFeedPoller, RevocationState, TokenVerifier
from tessera_middleware.errors import InvalidToken
from tessera_middleware.http import HttpResponse

from idp.services import app_admin
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.security.test_revocation_and_introspection import feed, resource_server

ISSUER = "http://localhost"


def set_suspended(app, client_id: str, suspended: bool) -> None:
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        client = uow.clients.by_client_id(client_id)
        if suspended:
            app_admin.suspend(uow, Caller(), None, client, "abuse report")
        else:
            window = app.extensions["tessera"].revocation_window
            app_admin.unsuspend(uow, Caller(), None, client, window)


def userinfo(client, token: str) -> int:
    return client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code


def active(client, rs, token: str) -> bool:
    response = client.post("/oauth/introspect", data={"token": token}, headers=rs.basic())
    return response.get_json()["active"]


def a_second_later() -> None:
    """iat is whole seconds, so the cut-off is too: the suspension lasts past the second."""
    time.sleep(1.0)


def test_issue12_8_tokens_from_before_a_suspension_stay_revoked_after_it(app, flow, web_app):
    rs = resource_server(app)
    old = flow.tokens(web_app)["access_token"]
    assert userinfo(flow.client, old) == 200 and active(flow.client, rs, old)
    set_suspended(app, web_app.client_id, True)
    assert userinfo(flow.client, old) == 401
    a_second_later()
    set_suspended(app, web_app.client_id, False)
    assert userinfo(flow.client, old) == 401  # was 200 again before the fix
    assert not active(flow.client, rs, old)
    new = flow.tokens(web_app)["access_token"]  # the app works again: new tokens live
    assert userinfo(flow.client, new) == 200 and active(flow.client, rs, new)


def test_issue12_8_the_feed_carries_the_cut_off_in_snapshots_and_deltas(app, flow, web_app):
    rs = resource_server(app)
    cursor = feed(flow.client, rs).get_json()["cursor"]
    set_suspended(app, web_app.client_id, True)
    before = int(time.time())
    set_suspended(app, web_app.client_id, False)
    after = int(time.time())
    delta = feed(flow.client, rs, since=cursor).get_json()
    snapshot = feed(flow.client, rs).get_json()
    for body in (delta, snapshot):
        [cut] = body["client_cutoffs"]
        assert cut["client_id"] == web_app.client_id
        assert before <= cut["issued_before"] <= after < cut["until"]
    assert snapshot["suspended_clients"] == []


def test_issue12_8_the_middleware_keeps_refusing_old_tokens_after_unsuspension(app, flow, web_app):
    rs = resource_server(app)

    def fetch(url, headers):
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = flow.client.get(path, headers=dict(headers))
        return HttpResponse(response.status_code, response.data)

    state = RevocationState()
    poller = RevocationFeedPoller(
        state, client_id=rs.client_id, client_secret=rs.secret,
        endpoint=f"{ISSUER}/oauth/revocations", http=fetch,
    )  # fmt: skip
    verifier = TokenVerifier(
        ISSUER, f"{ISSUER}/api", jwks_uri=f"{ISSUER}/jwks.json", http=fetch, revocations=state
    )
    assert poller.poll_once()
    old = flow.tokens(web_app)["access_token"]
    assert verifier.verify(old).client_id == web_app.client_id
    set_suspended(app, web_app.client_id, True)
    assert poller.poll_once()
    with pytest.raises(InvalidToken, match="suspended"):
        verifier.verify(old)
    a_second_later()
    set_suspended(app, web_app.client_id, False)
    assert poller.poll_once()  # a delta: restored, with the cut-off
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(old)
    new = flow.tokens(web_app)["access_token"]
    assert verifier.verify(new).client_id == web_app.client_id
    late = RevocationState()  # a resource server starting now reads the snapshot
    late.apply(feed(flow.client, rs).get_json())
    assert late.revoked_reason(verifier.verify(new)) is None
    assert state.snapshot()["client_cutoffs"] == feed(flow.client, rs).get_json()["client_cutoffs"]
