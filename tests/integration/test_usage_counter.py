"""Token counts are kept in memory and written in batches, never one write per token."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from idp.extensions import db
from idp.services import apps
from idp.storage.models import UsageDaily
from idp.storage.repositories.usage import UsageCounter
from tests.security.conftest import register_app


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def stored(app, pk: int) -> dict:
    with app.app_context():
        rows = db.session.execute(
            select(UsageDaily.day, UsageDaily.tokens_issued).where(UsageDaily.client_pk == pk)
        )
        return dict(rows.all())


def test_counts_are_batched_and_added_atomically(app):
    bot = register_app(app, apps.ClientSpec(name="Bot", app_type="service", scopes=["market:read"]))
    with app.app_context():
        pk = app.extensions["tessera"].oauth.clients.get(bot.client_id).pk
    clock = Clock()
    counter = UsageCounter(flush_interval=10, clock=clock)
    day = date(2026, 11, 28)
    with app.app_context():
        for _ in range(5):
            counter.count(pk, day)
            counter.flush_if_due()
        assert stored(app, pk) == {}  # nothing written before the interval
        clock.now = 11
        counter.flush_if_due()
        assert stored(app, pk) == {day: 5}
        counter.count(pk, day)
        counter.flush()
    assert stored(app, pk) == {day: 6}


def test_token_endpoint_counts_only_successes(app, client):
    bot = register_app(app, apps.ClientSpec(name="Bot", app_type="service", scopes=["market:read"]))
    for _ in range(3):
        assert (
            client.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, headers=bot.basic()
            ).status_code
            == 200
        )
    client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "orders:read"},
        headers=bot.basic(),
    )
    with app.app_context():
        app.extensions["tessera"].usage.flush()
        pk = app.extensions["tessera"].oauth.clients.get(bot.client_id).pk
    assert sum(stored(app, pk).values()) == 3


def test_counts_of_a_deleted_app_are_dropped_and_the_rest_written(app):
    bot = register_app(app, apps.ClientSpec(name="Bot", app_type="service", scopes=["market:read"]))
    counter = UsageCounter(flush_interval=0)
    day = date(2026, 11, 28)
    with app.app_context():
        pk = app.extensions["tessera"].oauth.clients.get(bot.client_id).pk
        counter.count(999_999, day)  # no such app: the foreign key refuses it
        counter.count(pk, day)
        counter.flush()
    assert stored(app, pk) == {day: 1}
    assert not counter._pending


def test_a_due_flush_never_waits_on_the_requests_own_write(make_app, user):
    """A refresh (the request writes) with the usage flush due: the flush runs after the
    request's commit. Before it, on SQLite, the flush's own connection waited for this
    request's write lock until the busy timeout and every token request stalled."""
    import time as _time

    from tests.conftest import AuthActions
    from tests.security.conftest import WEB_REDIRECT, Flow

    app = make_app(USAGE_FLUSH_INTERVAL=0, DB_STATEMENT_TIMEOUT=2000)
    client = app.test_client()
    web = apps.ClientSpec(
        name="Web", app_type="web", redirect_uris=[WEB_REDIRECT],
        scopes=["openid", "offline_access"],
    )  # fmt: skip
    helper = register_app(app, web)
    assert AuthActions(client).login().status_code == 303
    tokens = Flow(client).tokens(helper, scope="openid offline_access")
    started = _time.monotonic()
    refreshed = Flow(client).refresh(helper, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert _time.monotonic() - started < 1.5  # no wait for a lock (the busy timeout is 2 s)
    with app.app_context():
        pk = app.extensions["tessera"].oauth.clients.get(helper.client_id).pk
    assert sum(stored(app, pk).values()) == 2  # the code exchange and the refresh
