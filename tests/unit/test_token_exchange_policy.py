"""idp.services.token_exchange with fakes: who may exchange, for whom, for which scopes."""

from __future__ import annotations

import pytest

from idp.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from idp.services import token_exchange
from idp.services.context import Caller
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.fakes_consent import FakeGrantRepository, app_policy
from tests.unit.fakes_federation import FakeUpstreamLinkRepository

BOT = app_policy(
    client_id="bot", first_party=True, token_exchange=True,
    allowed_scopes=("openid", "orders:read", "chat:write"),
)  # fmt: skip


def _world():
    uow = FakeUnitOfWork(upstream_links=FakeUpstreamLinkRepository(), grants=FakeGrantRepository())
    user = uow.users.create(username="t", username_key="t", email="t@x", email_key="t@x",
                            password_hash="h", subject="sub-1")  # fmt: skip
    uow.upstream_links.create(user_id=user.id, provider="discord", subject="42")
    uow.grants.create(gid="g1", user_id=user.id, client_pk=BOT.pk, scopes="openid orders:read")
    return uow, user


def _decide(uow, client=BOT, subject="42", kind=token_exchange.SUBJECT_DISCORD_ID, scope=None,
            check=lambda token: None):  # fmt: skip
    return token_exchange.decide(
        uow, Caller(), client, subject_token=subject, subject_token_type=kind,
        requested_scope=scope, check_access_token=check,
    )  # fmt: skip


def test_issued_for_the_consented_scopes_and_audited():
    uow, user = _world()
    exchange = _decide(uow)
    assert exchange.user is user and exchange.scopes == ("openid", "orders:read")
    assert uow.audit.names() == ["token_exchange.issued"]


def test_the_bots_current_policy_caps_what_the_user_consented():
    uow, _ = _world()
    narrowed = app_policy(client_id="bot", first_party=True, token_exchange=True,
                          allowed_scopes=("orders:read",))  # fmt: skip
    assert _decide(uow, narrowed).scopes == ("orders:read",)


@pytest.mark.parametrize(
    "client",
    [app_policy(client_id="bot"), app_policy(client_id="bot", first_party=True),
     app_policy(client_id="bot", token_exchange=True)],
)  # fmt: skip
def test_unauthorized_unless_first_party_and_allowed(client):
    uow, _ = _world()
    with pytest.raises(UnauthorizedClient):
        _decide(uow, client)


def test_invalid_grant_without_link_consent_or_active_account():
    uow, user = _world()
    with pytest.raises(InvalidGrant, match="linked"):
        _decide(uow, subject="99")
    uow.grants.rows[0].revoked_at = object()
    with pytest.raises(InvalidGrant, match="revoked"):
        _decide(uow)
    uow.grants.rows[0].revoked_at = None
    user.disabled_at = object()
    with pytest.raises(InvalidGrant, match="not active"):
        _decide(uow)


def test_invalid_scope_beyond_consent():
    uow, _ = _world()
    with pytest.raises(InvalidScope):
        _decide(uow, scope="chat:write")


def test_access_token_subject_needs_a_user_token():
    uow, user = _world()
    app_token = {"sub": "some-app", "client_id": "some-app"}  # no gid: an app's own token
    with pytest.raises(InvalidGrant):
        _decide(
            uow, subject="t", kind=token_exchange.SUBJECT_ACCESS_TOKEN, check=lambda t: app_token
        )
    uow.users.by_subject = lambda s: user if s == "sub-1" else None
    user_token = {"sub": "sub-1", "gid": "g0"}
    exchange = _decide(uow, subject="t", kind=token_exchange.SUBJECT_ACCESS_TOKEN,
                       check=lambda t: user_token)  # fmt: skip
    assert exchange.user is user


def test_invalid_request_for_a_missing_or_unknown_subject_type():
    uow, _ = _world()
    with pytest.raises(InvalidRequest):
        _decide(uow, kind="urn:ietf:params:oauth:token-type:jwt")
    with pytest.raises(InvalidRequest):
        _decide(uow, subject="")
