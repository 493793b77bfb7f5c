"""The examples follow revocations on Tessera's Redis stream when they can read that Redis and
Tessera advertises a stream, else on its Server-Sent Events (examples/resource.py)."""

from __future__ import annotations

import pytest
from tessera_middleware import RevocationFeedPoller, RevocationState, SseRevocationStream
from tessera_middleware.redis_stream import RedisRevocationStream
from tessera_middleware.testing import ISSUER, FakeIdP

from examples.resource import ResourceSettings, revocation_follower

REDIS = "redis://127.0.0.1:6379/1"


def poller(idp: FakeIdP) -> RevocationFeedPoller:
    return RevocationFeedPoller(
        RevocationState(), issuer=ISSUER, client_id="rs", client_secret="s", http=idp
    )


def test_the_redis_stream_when_tessera_advertises_one(idp: FakeIdP):
    idp.metadata = {"tessera_revocation_stream_key": "tessera:abc:revocations"}
    follower = revocation_follower(REDIS, poller(idp))
    assert isinstance(follower, RedisRevocationStream)
    assert follower.resolve_key() == "tessera:abc:revocations"


def test_sse_when_tessera_writes_no_stream_even_with_a_redis_url(idp: FakeIdP):
    assert isinstance(revocation_follower(REDIS, poller(idp)), SseRevocationStream)


def test_sse_without_redis(idp: FakeIdP):
    idp.metadata = {"tessera_revocation_stream_key": "tessera:abc:revocations"}
    assert isinstance(revocation_follower("", poller(idp)), SseRevocationStream)


def test_tessera_down_at_start_up_keeps_the_redis_stream(idp: FakeIdP):
    idp.fail = True  # the follower polls the feed and asks discovery again until it answers
    assert isinstance(revocation_follower(REDIS, poller(idp)), RedisRevocationStream)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ""),
        ({"REDIS_URL": REDIS}, REDIS),
        ({"REVOCATIONS_REDIS_URL": "redis://t/2"}, "redis://t/2"),
    ],
)
def test_revocations_redis_url_defaults_to_redis_url(env, expected):
    base = {"TESSERA_ISSUER": ISSUER, "API_CLIENT_ID": "rs", "API_CLIENT_SECRET": "s"}
    settings = ResourceSettings.from_env({**base, **env}, default_port=8000)
    assert settings.revocations_redis_url == expected


def test_a_malformed_revocations_redis_url_is_named():
    env = {"TESSERA_ISSUER": ISSUER, "API_CLIENT_ID": "rs", "API_CLIENT_SECRET": "s",
           "REVOCATIONS_REDIS_URL": "http://x"}  # fmt: skip
    with pytest.raises(SystemExit, match="REVOCATIONS_REDIS_URL"):
        ResourceSettings.from_env(env, default_port=8000)
