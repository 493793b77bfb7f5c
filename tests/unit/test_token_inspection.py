"""Revocation (RFC 7009) and introspection (RFC 7662) decisions against fakes: no Flask, no DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from idp.domain.credentials import token_digest
from idp.services import token_inspection
from idp.services.token_inspection import PresentedToken
from tests.unit.fakes_tokens import row, token_uow

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def refresh_token(**changes) -> PresentedToken:
    fields = dict(
        id=1, digest=token_digest("rt"), family_id="fam", grant_pk=7, user_id=3, scope="openid",
        created_at=NOW - timedelta(hours=1), expires_at=NOW + timedelta(days=1),
        family_expires_at=NOW + timedelta(days=30), rotated_at=None, revoked_at=None,
    )  # fmt: skip
    fields.update(changes)
    return PresentedToken("refresh_token", "app-1", row=row(**fields))


def test_rfc7662_2_1_an_app_may_introspect_only_its_own_tokens():
    token = PresentedToken("access_token", "app-1", claims={"jti": "j"})
    assert token_inspection.may_introspect(token, "app-1", ["orders:read"])
    assert not token_inspection.may_introspect(token, "app-2", ["orders:read"])


def test_rfc7662_2_1_a_resource_server_may_introspect_any_token():
    token = PresentedToken("access_token", "app-1", claims={"jti": "j"})
    assert token_inspection.may_introspect(token, "api", ["revocations:read"])


@freeze_time(NOW)
def test_rfc7009_2_1_revoking_a_refresh_token_ends_its_family_and_its_live_access_tokens():
    uow = token_uow()
    token = refresh_token()
    uow.refresh_tokens.add(token.row)
    uow.refresh_tokens.add(row(**{**vars(token.row), "digest": "sibling"}))
    uow.access_tokens.rows.append(
        row(jti="live", family_id="fam", expires_at=NOW + timedelta(minutes=5))
    )
    uow.access_tokens.rows.append(
        row(jti="gone", family_id="fam", expires_at=NOW - timedelta(minutes=5))
    )
    token_inspection.revoke(uow, token)
    assert all(t.revoked_at == NOW for t in uow.refresh_tokens.rows)
    assert uow.revocations.entries == [("token", "live", NOW + timedelta(minutes=5))]
    assert uow.commits == 1


def test_rfc7009_2_1_revoking_an_access_token_puts_its_jti_on_the_feed_until_it_expires():
    uow = token_uow()
    exp = int((NOW + timedelta(minutes=10)).timestamp())
    token_inspection.revoke(
        uow, PresentedToken("access_token", "app-1", claims={"jti": "j1", "exp": exp})
    )
    assert uow.revocations.entries == [("token", "j1", datetime.fromtimestamp(exp, UTC))]
    assert uow.commits == 1


@freeze_time(NOW)
def test_rfc7662_2_2_a_rotated_or_expired_refresh_token_is_not_active():
    assert refresh_token(rotated_at=NOW).is_revoked()
    assert refresh_token(expires_at=NOW).is_expired()
    assert refresh_token(family_expires_at=NOW - timedelta(seconds=1)).is_expired()
    assert not refresh_token().is_expired() and not refresh_token().is_revoked()


def test_rfc7662_2_2_a_refresh_token_of_a_revoked_grant_is_inactive():
    uow = token_uow()
    uow.grants.by_pk = lambda pk: row(gid="g", revoked_at=NOW)
    uow.users.get = lambda user_id: row(subject="s")
    assert token_inspection.introspection(uow, refresh_token(), "https://id.test") == {
        "active": False
    }


def test_rfc7662_2_2_an_active_refresh_token_names_its_grant_subject_and_expiry():
    uow = token_uow()
    uow.grants.by_pk = lambda pk: row(gid="g7", revoked_at=None)
    uow.users.get = lambda user_id: row(subject="sub-3")
    body = token_inspection.introspection(uow, refresh_token(), "https://id.test")
    assert body["active"] is True and body["token_type"] == "refresh_token"
    assert (body["sub"], body["gid"], body["client_id"]) == ("sub-3", "g7", "app-1")
    assert body["exp"] == int((NOW + timedelta(days=1)).timestamp())
