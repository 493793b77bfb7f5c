"""idp.services.token_issuance with fakes: redemption, reuse and replay (RFC 6749 4.1.2,
RFC 9700 4.14.2), and what issuance mints and remembers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.domain.credentials import token_digest
from idp.errors import InvalidGrant
from idp.services import token_issuance
from idp.services.context import Caller
from idp.services.token_issuance import CodeContext, GrantSource, RefreshLifetimes, TokenUser
from tests.unit.fakes_tokens import FakeMinter, client_policy, row, token_uow

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CALLER = Caller(ip="203.0.113.9", user_agent="test")
GRACE = 2
LIFETIMES = RefreshLifetimes(idle_ttl=3600, absolute_ttl=86400, reuse_grace=GRACE)


def _with_refresh_token(uow, value="rt-1", **overrides):
    uow.grants.rows[1] = row(gid="g-1", revoked_at=None)
    uow.grants.users[5] = row(id=5, subject="sub-5", disabled_at=None)
    fields = dict(
        digest=token_digest(value),
        family_id="fam-1",
        client_pk=7,
        user_id=5,
        grant_pk=1,
        scope="openid offline_access",
        audience="https://api.example",
        auth_time=NOW - timedelta(hours=1),
        rotated_at=None,
        revoked_at=None,
        expires_at=NOW + timedelta(hours=1),
        family_expires_at=NOW + timedelta(days=1),
    )
    fields.update(overrides)
    uow.access_tokens.rows.append(
        row(jti="jti-live", family_id="fam-1", expires_at=NOW + timedelta(minutes=5))
    )
    return uow.refresh_tokens.add(row(**fields))


def _redeem_refresh(uow, value="rt-1", now=NOW):
    return token_issuance.redeem_refresh_token(
        uow, value, client_id="app-7", caller=CALLER, reuse_grace=GRACE, now=now
    )


def test_rfc9700_4_14_2_refresh_rotates_and_names_the_user():
    uow = token_uow()
    _with_refresh_token(uow)
    redeemed = _redeem_refresh(uow)
    assert redeemed.gid == "g-1" and redeemed.user == TokenUser(5, "sub-5")
    assert uow.refresh_tokens.rows[0].rotated_at == NOW


def test_rfc9700_4_14_2_reuse_within_grace_is_refused_and_revokes_nothing():
    uow = token_uow()
    token = _with_refresh_token(uow)
    _redeem_refresh(uow)
    with pytest.raises(InvalidGrant, match="concurrent request"):
        _redeem_refresh(uow, now=NOW + timedelta(seconds=GRACE))
    assert token.revoked_at is None
    assert uow.revocations.entries == [] and uow.audit.events == [] and uow.commits == 0


def test_rfc9700_4_14_2_replay_after_grace_revokes_the_family_audits_and_commits():
    uow = token_uow()
    token = _with_refresh_token(uow)
    _redeem_refresh(uow)
    later = NOW + timedelta(seconds=GRACE + 1)
    with pytest.raises(InvalidGrant, match="whole family is revoked"):
        _redeem_refresh(uow, now=later)
    assert token.revoked_at == later
    assert uow.revocations.entries == [("token", "jti-live", NOW + timedelta(minutes=5))]
    assert uow.audit.names() == ["refresh_token.replayed"]
    event = uow.audit.events[0]
    assert (event.user_id, event.client_id, event.ip) == (5, "app-7", "203.0.113.9")
    assert event.data == {"family_id": "fam-1"}
    assert uow.commits == 1


def test_rfc9700_4_14_2_expired_family_is_refused():
    uow = token_uow()
    _with_refresh_token(uow, family_expires_at=NOW)
    with pytest.raises(InvalidGrant, match="expired"):
        _redeem_refresh(uow)


def test_rfc9700_4_14_2_idle_expired_token_is_refused():
    uow = token_uow()
    _with_refresh_token(uow, expires_at=NOW - timedelta(seconds=1))
    with pytest.raises(InvalidGrant, match="expired"):
        _redeem_refresh(uow)


def test_rfc6749_6_revoked_grant_refuses_its_refresh_tokens():
    uow = token_uow()
    _with_refresh_token(uow)
    uow.grants.rows[1].revoked_at = NOW - timedelta(minutes=1)
    with pytest.raises(InvalidGrant, match="authorization was revoked"):
        _redeem_refresh(uow)


def test_rfc6749_6_unknown_or_revoked_refresh_token_is_no_token():
    uow = token_uow()
    _with_refresh_token(uow, revoked_at=NOW - timedelta(minutes=1))
    assert _redeem_refresh(uow, "no-such-token") is None
    assert _redeem_refresh(uow) is None
    assert uow.commits == 0


def test_rfc6749_6_disabled_account_gets_no_user():
    uow = token_uow()
    _with_refresh_token(uow)
    uow.grants.users[5].disabled_at = NOW
    assert _redeem_refresh(uow).user is None


# --- authorization codes ----------------------------------------------------------------------


def _saved_code(uow, value="code-1"):
    uow.grants.rows[1] = row(gid="g-1", revoked_at=None)
    token_issuance.save_code(
        uow,
        value,
        client_pk=7,
        user_id=5,
        context=CodeContext(1, "https://api.example", NOW, "pwd"),
        request={"redirect_uri": "https://app.example/cb", "scope": "openid", "nonce": "n"},
        ttl=60,
        now=NOW,
    )


def _redeem_code(uow, value="code-1", client_pk=7, now=NOW):
    return token_issuance.redeem_code(
        uow, value, client_pk=client_pk, client_id="app-7", caller=CALLER, now=now
    )


def test_rfc6749_4_1_3_code_is_stored_by_digest_and_redeemed_once():
    uow = token_uow()
    _saved_code(uow)
    stored = uow.codes.rows[0]
    assert stored.code_digest == token_digest("code-1") and stored.expires_at == NOW + timedelta(
        seconds=60
    )
    redeemed = _redeem_code(uow)
    assert redeemed.gid == "g-1" and redeemed.row.family_id == stored.family_id


def test_rfc6749_4_1_2_code_replay_revokes_what_it_produced():
    uow = token_uow()
    _saved_code(uow)
    family = _redeem_code(uow).row.family_id
    uow.refresh_tokens.add(row(digest="d", family_id=family, revoked_at=None, rotated_at=None))
    with pytest.raises(InvalidGrant, match="already used"):
        _redeem_code(uow, now=NOW + timedelta(seconds=5))
    assert uow.refresh_tokens.rows[0].revoked_at == NOW + timedelta(seconds=5)
    assert uow.audit.names() == ["authorization_code.replayed"] and uow.commits == 1


def test_rfc6749_4_1_3_another_apps_code_is_no_code():
    uow = token_uow()
    _saved_code(uow)
    assert _redeem_code(uow, client_pk=8) is None
    assert uow.codes.rows[0].used_at is None


def test_rfc6749_4_1_2_expired_code_is_refused():
    uow = token_uow()
    _saved_code(uow)
    with pytest.raises(InvalidGrant, match="expired"):
        _redeem_code(uow, now=NOW + timedelta(seconds=60))


def test_rfc6749_4_1_3_code_of_a_revoked_grant_is_refused():
    uow = token_uow()
    _saved_code(uow)
    uow.grants.rows[1].revoked_at = NOW
    with pytest.raises(InvalidGrant, match="authorization was revoked"):
        _redeem_code(uow)


# --- issuance ---------------------------------------------------------------------------------


def _issue(client, scopes, user=None, source=None, include_refresh=True):
    return token_issuance.issue(
        FakeMinter(),
        LIFETIMES,
        client=client,
        scopes=scopes,
        user=user,
        source=source,
        default_audience="https://default.example",
        include_refresh=include_refresh,
        now=NOW,
    )


SOURCE = GrantSource("g-1", 1, "fam-1", "openid offline_access", "", NOW, None)


def test_rfc6749_4_4_client_credentials_remember_nothing():
    issued = _issue(client_policy("service"), ("chat:bot",))
    assert not issued.remembers_anything and "refresh_token" not in issued.body
    assert issued.body["scope"] == "chat:bot" and issued.body["token_type"] == "Bearer"


def test_rfc9700_4_14_2_confidential_app_gets_a_refresh_token_in_the_family():
    issued = _issue(client_policy("web"), ("openid",), TokenUser(5, "sub-5"), SOURCE)
    assert issued.access_token_row["family_id"] == "fam-1"
    assert issued.access_token_row["jti"] == "jti-1"
    refresh = issued.refresh_token_row
    assert refresh["digest"] == token_digest(issued.body["refresh_token"])
    assert refresh["family_id"] == "fam-1" and refresh["scope"] == SOURCE.scope
    assert refresh["family_expires_at"] == NOW + timedelta(days=1)
    assert refresh["expires_at"] == NOW + timedelta(hours=1)


def test_rfc9700_4_14_2_public_app_needs_offline_access_for_a_refresh_token():
    spa = client_policy("spa")
    assert "refresh_token" not in _issue(spa, ("openid",), TokenUser(5, "s"), SOURCE).body
    assert (
        "refresh_token" in _issue(spa, ("openid", "offline_access"), TokenUser(5, "s"), SOURCE).body
    )


def test_rfc9700_4_14_2_rotation_keeps_the_family_expiry():
    end = NOW + timedelta(minutes=10)
    source = GrantSource("g-1", 1, "fam-1", "openid", "", NOW, end)
    issued = _issue(client_policy("web"), ("openid",), TokenUser(5, "s"), source)
    refresh = issued.refresh_token_row
    assert refresh["family_expires_at"] == end == refresh["expires_at"]


def test_save_inserts_every_issued_row():
    uow = token_uow()
    issued = _issue(client_policy("web"), ("openid",), TokenUser(5, "s"), SOURCE)
    token_issuance.save(uow, issued)
    assert len(uow.access_tokens.inserted) == 1 and len(uow.refresh_tokens.inserted) == 1
