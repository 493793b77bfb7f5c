"""idp.services.device_flow with fakes (RFC 8628): start, the user's decision, polling."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from freezegun import freeze_time

from idp.domain.clock import utcnow
from idp.domain.credentials import token_digest
from idp.errors import AccessDenied, InvalidGrant
from idp.services.context import Caller
from idp.services.device_flow import (
    SLOW_DOWN_STEP,
    USER_CODE_ALPHABET,
    DeviceFlow,
    UserCodeError,
    normalize_user_code,
)
from tests.unit.fakes_device import device_uow
from tests.unit.fakes_tokens import client_policy

SETTINGS = SimpleNamespace(
    ISSUER="https://idp.example/", DEVICE_CODE_TTL=600, DEVICE_POLL_INTERVAL=5
)
CALLER = Caller(ip="198.51.100.4", user_agent="test")
POLICY = client_policy("device", allowed_scopes=("openid", "offline_access"))


def _started(uow, flow=None):
    flow = flow or DeviceFlow(SETTINGS)
    body = flow.start(uow, POLICY, ("openid", "offline_access"))
    return flow, body, uow.device_codes.rows[-1]


def test_rfc8628_3_2_start_stores_digests_and_answers_the_device():
    uow = device_uow()
    _, body, row = _started(uow)
    assert row.device_code_digest == token_digest(body["device_code"])
    assert row.status == "pending" and row.scope == "openid offline_access"
    assert normalize_user_code(body["user_code"]) == row.user_code
    assert all(c in USER_CODE_ALPHABET for c in row.user_code)
    assert body["verification_uri"] == "https://idp.example/device"
    complete = urlsplit(body["verification_uri_complete"])
    assert parse_qs(complete.query) == {"user_code": [body["user_code"]]}
    assert (body["expires_in"], body["interval"]) == (600, 5)


def test_rfc8628_3_3_approve_records_consent_audits_and_commits():
    uow = device_uow()
    flow, body, row = _started(uow)
    found = flow.lookup_for_user(uow, body["user_code"].lower())
    flow.approve(uow, CALLER, uow.users.rows[5], found, POLICY)
    assert row.status == "approved" and row.user_id == 5 and row.grant_pk is not None
    assert uow.grants.by_pk(row.grant_pk).scopes == "openid offline_access"
    assert uow.audit.names() == ["consent.granted", "device.approved"]
    assert uow.commits == 1


def test_rfc8628_3_3_deny_records_the_denial_and_commits():
    uow = device_uow()
    flow, _, row = _started(uow)
    flow.deny(uow, CALLER, uow.users.rows[5], row, POLICY)
    assert row.status == "denied" and uow.grants.rows == {}
    assert uow.audit.names() == ["consent.denied"] and uow.commits == 1
    with pytest.raises(AccessDenied):
        flow.redeem(uow, row.user_code)


def test_rfc8628_3_3_a_decision_lost_to_another_is_refused_uncommitted():
    uow = device_uow()
    flow, _, row = _started(uow)
    uow.device_codes.lose_next_decision = True  # another tab decided between lookup and now
    with pytest.raises(UserCodeError, match="already used"):
        flow.approve(uow, CALLER, uow.users.rows[5], row, POLICY)
    assert uow.commits == 0 and "device.approved" not in uow.audit.names()


def test_rfc8628_3_3_a_decided_code_cannot_be_decided_again():
    uow = device_uow()
    flow, _, row = _started(uow)
    flow.approve(uow, CALLER, uow.users.rows[5], row, POLICY)
    with pytest.raises(UserCodeError, match="already used"):
        flow.deny(uow, CALLER, uow.users.rows[5], row, POLICY)
    with pytest.raises(UserCodeError, match="already used"):
        flow.lookup_for_user(uow, row.user_code)
    assert row.status == "approved" and uow.commits == 1


def test_rfc8628_3_3_typed_codes_are_checked():
    uow = device_uow()
    flow, _, row = _started(uow)
    with pytest.raises(UserCodeError, match="not a valid code"):
        flow.lookup_for_user(uow, "1234")
    with pytest.raises(UserCodeError, match="No device is waiting"):
        other = next(c * 8 for c in USER_CODE_ALPHABET if c * 8 != row.user_code)
        flow.lookup_for_user(uow, other)


def test_rfc8628_3_5_expired_code_cannot_be_approved_or_polled():
    uow = device_uow()
    flow, body, row = _started(uow)
    with freeze_time(utcnow() + timedelta(seconds=601)):
        with pytest.raises(UserCodeError, match="expired"):
            flow.lookup_for_user(uow, row.user_code)
        with pytest.raises(UserCodeError, match="expired"):
            flow.approve(uow, CALLER, uow.users.rows[5], row, POLICY)
        assert flow.credential(uow, body["device_code"]).is_expired()


def test_rfc8628_3_5_polling_too_fast_means_slow_down():
    uow = device_uow()
    flow, body, row = _started(uow)
    credential = flow.credential(uow, body["device_code"])
    with freeze_time(utcnow()) as clock:
        assert flow.should_slow_down(uow, credential) is False
        clock.tick(timedelta(seconds=4))
        assert flow.should_slow_down(uow, credential) is True
        assert row.interval == 5 + SLOW_DOWN_STEP
        clock.tick(timedelta(seconds=10))
        assert flow.should_slow_down(uow, credential) is False
    assert uow.commits == 3  # each poll's last_polled_at survives the error answer's rollback


def test_rfc8628_3_5_pending_code_has_no_tokens_yet():
    uow = device_uow()
    flow, _, row = _started(uow)
    assert flow.redeem(uow, row.user_code) is None


def test_rfc8628_3_5_an_approved_code_is_redeemed_once():
    uow = device_uow()
    flow, body, row = _started(uow)
    flow.approve(uow, CALLER, uow.users.rows[5], row, POLICY)
    redeemed = flow.redeem(uow, row.user_code)
    assert redeemed.row is row and redeemed.user.id == 5
    assert redeemed.gid == uow.grants.by_pk(row.grant_pk).gid
    assert row.status == "consumed"
    with pytest.raises(InvalidGrant, match="already redeemed"):
        flow.redeem(uow, row.user_code)
    with pytest.raises(InvalidGrant, match="already redeemed"):
        flow.credential(uow, body["device_code"])


def test_rfc8628_3_5_a_revoked_grant_or_disabled_account_gets_no_tokens():
    uow = device_uow()
    flow, _, row = _started(uow)
    flow.approve(uow, CALLER, uow.users.rows[5], row, POLICY)
    uow.grants.by_pk(row.grant_pk).revoked_at = utcnow()
    with pytest.raises(InvalidGrant, match="revoked"):
        flow.redeem(uow, row.user_code)


def test_rfc8628_3_4_unknown_device_code_is_invalid_grant():
    with pytest.raises(InvalidGrant, match="not valid"):
        DeviceFlow(SETTINGS).credential(device_uow(), "nope")
