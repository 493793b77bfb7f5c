"""idp.domain.refresh_tokens: reuse, grace and lifetimes, over plain values (RFC 9700 4.14.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from idp.domain.refresh_tokens import Reuse, classify_reuse, is_expired, new_token_expiry

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_rfc9700_4_14_2_reuse_within_grace_is_a_concurrent_request():
    assert classify_reuse(NOW - timedelta(seconds=2), NOW, grace_seconds=2) is Reuse.CONCURRENT


def test_rfc9700_4_14_2_reuse_after_grace_is_a_replay():
    rotated = NOW - timedelta(seconds=2, microseconds=1)
    assert classify_reuse(rotated, NOW, grace_seconds=2) is Reuse.REPLAY


def test_rfc9700_4_14_2_no_grace_means_any_reuse_is_a_replay():
    assert classify_reuse(NOW - timedelta(seconds=1), NOW, grace_seconds=0) is Reuse.REPLAY


def test_rfc9700_4_14_2_unknown_rotation_time_is_a_replay():
    assert classify_reuse(None, NOW, grace_seconds=30) is Reuse.REPLAY


def test_rfc9700_4_14_2_token_expires_at_idle_or_family_expiry():
    later, earlier = NOW + timedelta(hours=1), NOW - timedelta(seconds=1)
    assert not is_expired(later, later, NOW)
    assert is_expired(NOW, later, NOW)
    assert is_expired(later, earlier, NOW)


def test_rfc9700_4_14_2_new_family_takes_the_server_absolute_lifetime():
    expiry = new_token_expiry(NOW, idle_ttl=3600, absolute_ttl=86400)
    assert expiry.family_expires_at == NOW + timedelta(days=1)
    assert expiry.expires_at == NOW + timedelta(hours=1)


def test_rfc9700_4_14_2_an_app_lifetime_overrides_the_server_one():
    expiry = new_token_expiry(NOW, idle_ttl=3600, absolute_ttl=86400, client_absolute_ttl=7200)
    assert expiry.family_expires_at == NOW + timedelta(hours=2)


def test_rfc9700_4_14_2_rotation_keeps_the_family_expiry_and_caps_the_idle_one():
    family_end = NOW + timedelta(minutes=10)
    expiry = new_token_expiry(
        NOW,
        idle_ttl=3600,
        absolute_ttl=86400,
        client_absolute_ttl=7200,
        family_expires_at=family_end,
    )
    assert expiry.family_expires_at == family_end
    assert expiry.expires_at == family_end


def test_rfc9700_4_14_2_zero_grace_makes_even_an_immediate_reuse_a_replay():
    """Without a grace, a rotated token presented again in the same instant is theft too."""
    assert classify_reuse(NOW, NOW, grace_seconds=0) is Reuse.REPLAY
