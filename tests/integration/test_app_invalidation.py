"""Issue 11 part 3: a change to an app reaches every worker and instance within a second
through Redis pub/sub (idp/storage/app_invalidation.py); the subscriber lives through Redis
being down at start-up and later, and forgets the whole cache when it (re)subscribes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import redis
import requests
from sqlalchemy import update

from idp.extensions import db
from idp.services import apps
from idp.services.context import Caller
from idp.storage.app_invalidation import AppChangeBroadcast
from idp.storage.models import Client
from idp.storage.redis_state import SharedRedis
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import CHEAP_ARGON2, TEST_SECRET
from tests.integration.redis_servers import TesseraServe, ThrowawayRedis, wait_until
from tests.security.conftest import App, register_app

GRANT = {"grant_type": "client_credentials"}
LONG_TTL = 300  # without the broadcast, another process would serve a stale app this long


def bot(app, name: str) -> App:
    return register_app(app, apps.ClientSpec(name=name, app_type="service", scopes=["market:read"]))


def token_status(server: TesseraServe, service: App) -> int:
    """One token request on a new connection, so the server's workers share the requests."""
    headers = {**service.basic(), "Connection": "close"}
    return requests.post(
        server.url + "/oauth/token", data=GRANT, headers=headers, timeout=5
    ).status_code


def subscribers(redis_url: str, channel: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        client.close()


def test_suspension_reaches_another_instance_within_a_second(
    make_app, migrated_database, redis_url, issuer, tmp_path
):
    settings = {"REDIS_URL": redis_url, "ISSUER": issuer, "CLIENT_CACHE_TTL": LONG_TTL}
    here = make_app(**settings)
    suspended, control = bot(here, "Suspended"), bot(here, "Control")
    channel = here.extensions["tessera"].redis.channel
    server = TesseraServe(
        tmp_path / "serve.log", workers=2, DATABASE_URL=migrated_database, SECRET_KEY=TEST_SECRET,
        INSTANCE_PATH=tmp_path / "instance", **CHEAP_ARGON2, **settings,
    )  # fmt: skip
    try:
        server.wait_ready()
        # This process and the server's (each subscribes once it has loaded the app; one that
        # subscribes late forgets its whole cache when it does).
        wait_until(lambda: subscribers(redis_url, channel) >= 3, 30, "workers subscribed")
        for _ in range(20):  # every worker caches both apps
            assert token_status(server, suspended) == token_status(server, control) == 200

        # Control: a change the commit hooks cannot see (plain SQL) stays invisible to the
        # other instance for the cache TTL. That is what the broadcast shortens.
        with here.app_context():
            db.session.execute(
                update(Client)
                .where(Client.client_id == control.client_id)
                .values(suspended_at=datetime.now(UTC))
            )
            db.session.commit()
        assert 200 in [token_status(server, control) for _ in range(10)]

        with here.app_context():
            uow = SqlAlchemyUnitOfWork()
            started = time.monotonic()
            apps.suspend(uow, Caller(), uow.clients.by_client_id(suspended.client_id), "abuse")
        wait_until(lambda: token_status(server, suspended) == 400, 1.0, "suspension seen")
        seen = time.monotonic() - started
        assert [token_status(server, suspended) for _ in range(20)] == [400] * 20, seen
    finally:
        server.stop()


class Recorder:
    """Stands in for the app caches: records each invalidation (None: everything)."""

    def __init__(self) -> None:
        self.calls: list[set[str] | None] = []
        self._changed = threading.Condition()

    def __call__(self, client_ids: set[str] | None) -> None:
        with self._changed:
            self.calls.append(client_ids)
            self._changed.notify_all()

    def wait_for(self, expected: set[str] | None, timeout: float) -> None:
        """Until `expected` is among the calls made since the last wait."""
        with self._changed:
            assert self._changed.wait_for(lambda: expected in self.calls, timeout), self.calls
            self.calls.clear()


def test_subscriber_survives_redis_down_at_start_and_reconnects(
    throwaway_redis: ThrowawayRedis, issuer, caplog
):
    caplog.set_level(logging.INFO)
    shared = SharedRedis(throwaway_redis.url, issuer)  # nothing listens there yet
    caches = Recorder()
    subscriber = AppChangeBroadcast(shared, invalidate=caches)
    subscriber.start()
    try:
        wait_until(lambda: any("unreachable" in r.message for r in caplog.records), 5, "logged")
        assert not subscriber.subscribed.is_set()

        throwaway_redis.start()
        assert subscriber.subscribed.wait(10)  # the back-off is at most 5 s
        caches.wait_for(None, 1)  # a (re)subscription forgets every cached app

        publisher = AppChangeBroadcast(SharedRedis(throwaway_redis.url, issuer))
        publisher.publish({"app-1", "app-2"})
        caches.wait_for({"app-1", "app-2"}, 1)

        throwaway_redis.stop()  # Redis goes away mid-run
        wait_until(lambda: not subscriber.subscribed.is_set(), 5, "the subscriber notices")
        throwaway_redis.start()
        assert subscriber.subscribed.wait(10)
        caches.wait_for(None, 1)  # what changed while it was away is unknown: forget all
        publisher = AppChangeBroadcast(SharedRedis(throwaway_redis.url, issuer))
        publisher.publish(None)
        caches.wait_for(None, 1)
    finally:
        subscriber.stop()
    assert sum("unreachable" in r.message for r in caplog.records) == 1  # once a minute
