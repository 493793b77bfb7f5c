"""Fan revocation updates out to every process over Redis pub/sub.

One process runs the ``RevocationFeedPoller`` and a broadcaster in ``publish`` mode: each
successful poll (deltas, and empty ones as heartbeats) is published and the full state is
stored under ``<channel>:snapshot``. Every other process runs a broadcaster in
``subscribe`` mode: it loads the snapshot, then applies each message as it arrives, so a
revocation reaches all workers within one poll interval plus a pub/sub hop.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from typing import Any

import redis

from tessera_middleware.revocation import RevocationState

log = logging.getLogger(__name__)


def _json_safe(doc: dict[str, Any]) -> dict[str, Any]:
    # "Keep until a full snapshot" entries carry inf, which JSON cannot encode.
    def fix(entries: Any, when: str) -> list[dict[str, Any]]:
        return [
            {**e, when: None} if isinstance(e.get(when), float) and math.isinf(e[when]) else e
            for e in entries or []
        ]

    return {
        **doc,
        "revoked_tokens": fix(doc.get("revoked_tokens"), "exp"),
        "revoked_grants": fix(doc.get("revoked_grants"), "until"),
        "client_cutoffs": fix(doc.get("client_cutoffs"), "until"),
    }


class RedisRevocationBroadcaster:
    def __init__(
        self,
        state: RevocationState,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        channel: str = "tessera:revocations",
        client: redis.Redis | None = None,
    ) -> None:
        self.state = state
        self.channel = channel
        self.redis = client or redis.Redis.from_url(url, socket_timeout=5)
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- publishing side (the polling process) --
    def attach_publisher(self) -> None:
        """Publish every update the local state applies from the feed."""
        self.state.add_listener(self.publish)

    def publish(self, doc: Any) -> None:
        message = json.dumps(_json_safe(dict(doc)))
        snapshot = json.dumps(_json_safe(self.state.snapshot()))
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(f"{self.channel}:snapshot", snapshot)
            pipe.publish(self.channel, message)
            pipe.execute()
        except redis.RedisError as exc:
            # Other processes then go stale and apply the staleness policy; we keep serving.
            log.warning("could not publish revocation update: %s", exc)

    # -- subscribing side (every other process) --
    def start_subscriber(self) -> None:
        """Load the stored snapshot and follow the channel in a daemon thread."""
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(self.channel)  # subscribe first: no gap before the snapshot
        raw = self.redis.get(f"{self.channel}:snapshot")
        if raw:
            self._apply(raw)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tessera-revocation-sub")
        self._thread.daemon = True
        self._thread.start()

    def _apply(self, raw: bytes | str) -> None:
        try:
            doc = json.loads(raw)
        except ValueError:
            log.warning("ignoring undecodable revocation message")
            return
        if isinstance(doc, dict):
            self.state.apply(doc)
            self.state.mark_synced()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(timeout=1.0)
            except redis.RedisError as exc:
                log.warning("revocation subscription error: %s", exc)
                self._stop.wait(1.0)
                continue
            if message and message.get("type") == "message":
                self._apply(message["data"])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
