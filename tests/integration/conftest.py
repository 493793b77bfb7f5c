"""Fixtures for the shared-state tests: Redis reachable or skipped, an issuer (and so a Redis
key prefix and channel) of each test's own, throwaway redis-server processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from idp.storage import app_invalidation
from idp.storage.redis_state import deployment_prefix
from tests.integration.federation_helpers import (  # noqa: F401 - fixtures of the federation tests
    discord_stub,
    fed_app,
    fed_client,
    providers_file,
    standin_discord,
    standin_oidc,
)
from tests.integration.redis_servers import REDIS_URL, ThrowawayRedis


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Redis tests: {REDIS_URL} is unreachable ({exc})")
        pytest.skip(f"needs Redis at {REDIS_URL} (TESSERA_TEST_REDIS_URL): {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def issuer() -> Iterator[str]:
    """An issuer of this test's own, so its Redis keys and channel are its own. Afterwards its
    keys are removed and the app-change subscribers its apps started are stopped."""
    value = f"http://localhost/t{uuid.uuid4().hex[:12]}"
    before = app_invalidation.running()
    yield value
    for broadcast in app_invalidation.running():
        if broadcast not in before:
            app_invalidation.stop_following(broadcast)
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        keys = list(client.scan_iter(match=deployment_prefix(value) + ":*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # the test that needed Redis was skipped
    finally:
        client.close()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    yield server
    server.stop()
