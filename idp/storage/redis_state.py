"""The Redis that Tessera's workers and instances share (TESSERA_REDIS_URL), and how to live
without it.

Redis holds what must be one thing for the whole deployment: the failure throttles' counters
(idp/storage/throttle.py) and the app-change broadcast (idp/storage/app_invalidation.py).
Keys and channels are prefixed with a digest of the issuer, so two deployments, or another
program, on the same Redis never read each other's counters.

Redis being down must neither fail a request nor slow every one of them: commands use short
socket timeouts and no retry loop, and after a failure Redis is skipped for BACKOFF seconds
(callers fall back to per-process state meanwhile). The outage is logged once a minute, not
once per request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# Redis answers in well under a millisecond on a LAN; anything slower is an outage to route
# around, not a reason to hold a login request.
CONNECT_TIMEOUT = 0.25
READ_TIMEOUT = 0.5
BACKOFF = 5.0  # seconds Redis is left alone after a failure
LOG_INTERVAL = 60.0


def deployment_prefix(issuer: str) -> str:
    """`tessera:<12 hex>`: one per deployment (its instances share the issuer)."""
    return "tessera:" + hashlib.sha256(issuer.rstrip("/").encode()).hexdigest()[:12]


def redis_client(url: str, **options: object) -> redis.Redis:
    """A client that fails fast: one reconnect for a stale pooled connection, then an error."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=READ_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        **options,
    )


class SharedRedis:
    """One process's link to the deployment's Redis, with a circuit breaker around it."""

    def __init__(
        self, url: str, issuer: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self.client = redis_client(url)
        self.prefix = deployment_prefix(issuer)
        kwargs = self.client.connection_pool.connection_kwargs
        # Pub/sub ignores the database number, so the channel carries it: deployments kept apart
        # by database number stay apart.
        self.channel = f"{self.prefix}:db{kwargs.get('db', 0)}:apps"
        self.where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        self._clock = clock
        self._down_until = 0.0
        self._last_log: float | None = None
        self._down = False
        self._lock = threading.Lock()

    def available(self) -> bool:
        """False during the back-off after a failure: callers use their fallback at once."""
        return self._clock() >= self._down_until

    def failed(self, exc: Exception) -> None:
        now = self._clock()
        with self._lock:
            self._down_until = now + BACKOFF
            self._down = True
            if self._last_log is not None and now - self._last_log < LOG_INTERVAL:
                return
            self._last_log = now
        log.warning(
            "Redis at %s is unreachable (%s): throttles count per process and app changes "
            "reach other processes within TESSERA_CLIENT_CACHE_TTL until it is back",
            self.where,
            exc,
        )

    def succeeded(self) -> None:
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                log.info("Redis at %s is reachable again", self.where)
