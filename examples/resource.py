"""What both examples share: settings from the environment and the middleware wiring.

Imports nothing from Tessera but ``tessera_middleware``: this is what a third-party API would
write. Every setting comes from an environment variable (see ``ResourceSettings.from_env``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from tessera_middleware import RevocationFeedPoller, RevocationState, TokenVerifier
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.ratelimit import TierRateLimiter

log = logging.getLogger(__name__)


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
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL must be a redis:// URL")
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
        )


def build_guard(
    settings: ResourceSettings, *, realm: str, limit_prefix: str
) -> tuple[ResourceGuard, RevocationFeedPoller]:
    """Verifier + revocation feed + tier rate limits; the caller starts the poller."""
    revocations = RevocationState(max_staleness=60)
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
    return ResourceGuard(verifier, rate_limiter=limiter, realm=realm), poller
