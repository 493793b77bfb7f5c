"""What both examples share: settings from the environment and the middleware wiring.

Imports nothing from Tessera but ``tessera_middleware``: this is what a third-party API would
write. Every setting comes from an environment variable (see ``ResourceSettings.from_env``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tessera_middleware import (
    RevocationFeedPoller,
    RevocationState,
    ServiceUnavailable,
    SseRevocationStream,
    TokenVerifier,
)
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.ratelimit import TierRateLimiter

log = logging.getLogger(__name__)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class SettingsError(SystemExit):
    """A missing or malformed setting stops start-up with a message naming it."""


@dataclass(frozen=True)
class ResourceSettings:
    issuer: str
    audience: str
    client_id: str
    client_secret: str
    redis_url: str
    host: str
    port: int
    namespace: str
    # Tessera's Redis, where its stream of revocation events is (default: REDIS_URL).
    revocations_redis_url: str = ""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, default_port: int
    ) -> ResourceSettings:
        env = os.environ if env is None else env
        missing = [
            name
            for name in ("TESSERA_ISSUER", "API_CLIENT_ID", "API_CLIENT_SECRET")
            if not env.get(name, "").strip()
        ]
        if missing:
            raise SettingsError(
                f"set {', '.join(missing)}: the issuer, and the resource-server app's "
                "credentials (it reads the revocation feed and needs revocations:read)"
            )
        issuer = env["TESSERA_ISSUER"].strip().rstrip("/")
        raw_port = env.get("PORT", str(default_port)).strip()
        if not raw_port.isdigit() or int(raw_port) > 65535:
            raise SettingsError(
                f"PORT must be a port number (0 picks a free one), not {raw_port!r}"
            )
        redis_url = env.get("REDIS_URL", "").strip()
        if redis_url and not redis_url.startswith(REDIS_SCHEMES):
            raise SettingsError("REDIS_URL must be a redis:// URL")
        revocations_redis = env.get("REVOCATIONS_REDIS_URL", "").strip() or redis_url
        if not revocations_redis.startswith(REDIS_SCHEMES) and revocations_redis:
            raise SettingsError("REVOCATIONS_REDIS_URL must be a redis:// URL")
        return cls(
            issuer=issuer,
            audience=env.get("API_AUDIENCE", "").strip() or issuer + "/api",
            client_id=env["API_CLIENT_ID"].strip(),
            client_secret=env["API_CLIENT_SECRET"].strip(),
            redis_url=redis_url,
            host=env.get("HOST", "127.0.0.1").strip() or "127.0.0.1",
            port=int(raw_port),
            # Prefix of every Redis key and channel, so several demos can share one Redis.
            namespace=env.get("MARKET_NAMESPACE", "market").strip() or "market",
            revocations_redis_url=revocations_redis,
        )


class RevocationFollower(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout: float = ...) -> None: ...


def build_guard(
    settings: ResourceSettings, *, realm: str, limit_prefix: str
) -> tuple[ResourceGuard, RevocationFollower]:
    """Verifier + pushed revocations + tier rate limits; the caller starts the follower."""
    revocations = RevocationState(max_staleness=60)
    # The feed: the followers' snapshots, and their fallback while their channel is down.
    poller = RevocationFeedPoller(
        revocations,
        issuer=settings.issuer,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
    )
    verifier = TokenVerifier(settings.issuer, settings.audience, revocations=revocations)
    # With Redis every process counts against the same keys, so N processes together
    # still hold each app to its tier; in memory each process would allow the full tier.
    storage = settings.redis_url or "memory://"
    limiter = TierRateLimiter(storage, key_prefix=f"{settings.namespace}:{limit_prefix}")
    if not settings.redis_url:
        log.warning("REDIS_URL is not set: rate limits are per process")
    guard = ResourceGuard(verifier, rate_limiter=limiter, realm=realm)
    return guard, revocation_follower(settings.revocations_redis_url, poller)


def revocation_follower(redis_url: str, poller: RevocationFeedPoller) -> RevocationFollower:
    """Tessera's Redis stream when we can read its Redis and it writes one, else its
    Server-Sent Events; both found through the issuer's discovery (docs/revocation-events.md)."""
    if redis_url:
        try:
            meta = poller.metadata()
        except ServiceUnavailable:
            meta = None  # Tessera not up yet: the follower polls the feed until it is
        if meta is None or meta.revocation_stream_key:
            from tessera_middleware.redis_stream import RedisRevocationStream

            log.info("revocations: following Tessera's Redis stream")
            return RedisRevocationStream(poller.state, poller, redis_url)
        log.warning(
            "revocations: Tessera advertises no Redis stream (is its TESSERA_REDIS_URL set?); "
            "following its event stream (SSE) instead"
        )
    log.info("revocations: following Tessera's event stream (SSE)")
    return SseRevocationStream(poller.state, poller)
