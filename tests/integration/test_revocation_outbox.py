"""The revocation events table as an outbox (idp/storage/revocation_outbox.py), on SQLite and
PostgreSQL: events are sequenced gaplessly after commit, pushed to the Redis stream with their
seq as entry id, pushed later when Redis was down, once however many publishers race.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import RevocationEvent
from idp.storage.redis_state import SharedRedis
from idp.storage.revocation_outbox import RevocationOutbox, events_after
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.integration.redis_servers import ThrowawayRedis, wait_until

ISSUER = "http://localhost/outbox"
UNTIL = datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture(scope="module")
def own_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis().start()
    yield server
    server.stop()


class Clock:
    """SharedRedis's back-off clock, moved on by hand: no 5 s wait after an outage."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def outbox_for(url: str, clock: Clock | None = None) -> RevocationOutbox:
    return RevocationOutbox(SharedRedis(url, ISSUER, clock=clock or Clock()), maxlen=1000)


def append(app, *subjects: str) -> None:
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        for subject in subjects:
            uow.revocations.append("token", subject, UNTIL)
        uow.commit()


def stream(url: str, key: str) -> list[tuple[str, dict]]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return [(i, json.loads(f["event"])) for i, f in client.xrange(key)]
    finally:
        client.close()


def rows(app) -> list[RevocationEvent]:
    with app.app_context():
        return list(db.session.scalars(select(RevocationEvent).order_by(RevocationEvent.id)))


def test_committed_events_are_pushed_at_commit_with_their_seq_as_stream_id(make_app, own_redis):
    app = make_app(REDIS_URL=own_redis.url, ISSUER=ISSUER)
    outbox = app.extensions["tessera"].outbox
    redis.Redis.from_url(own_redis.url).delete(outbox.key)
    append(app, "jti-a", "jti-b")
    append(app, "jti-c")
    seqs = [r.seq for r in rows(app)]
    assert seqs == [1, 2, 3] and all(r.pushed for r in rows(app))
    entries = stream(own_redis.url, outbox.key)
    assert [i for i, _ in entries] == ["1-0", "2-0", "3-0"]
    assert [e["subject"] for _, e in entries] == ["jti-a", "jti-b", "jti-c"]
    assert entries[0][1] == {
        "v": 1,
        "seq": 1,
        "id": rows(app)[0].id,
        "type": "token",
        "subject": "jti-a",
        "until": int(UNTIL.timestamp()),
        "at": entries[0][1]["at"],
    }
    with app.app_context():
        assert [e["seq"] for e in events_after(db.engine, 1)] == [2, 3]


def test_events_redis_missed_are_pushed_later_in_order(make_app, own_redis):
    app = make_app(ISSUER=ISSUER)  # no Redis: events are sequenced (for SSE) and wait
    append(app, "jti-1", "jti-2")
    clock = Clock()
    down = ThrowawayRedis()  # a port nobody listens on yet
    outbox = outbox_for(down.url, clock)
    with app.app_context():
        outbox.flush(db.engine)
        assert [(r.seq, r.pushed) for r in rows(app)] == [(1, False), (2, False)]
        down.start()
        try:
            clock.now += 60  # past the back-off
            outbox.flush(db.engine)
            assert [i for i, _ in stream(down.url, outbox.key)] == ["1-0", "2-0"]
        finally:
            down.stop()
    assert all(r.pushed for r in rows(app))


def test_a_second_publish_of_an_event_is_a_harmless_no_op(make_app, own_redis):
    app = make_app(REDIS_URL=own_redis.url, ISSUER=ISSUER)
    outbox = app.extensions["tessera"].outbox
    redis.Redis.from_url(own_redis.url).delete(outbox.key)
    append(app, "jti-once")
    with app.app_context():
        # A publisher that died after its XADD and before its commit leaves this behind.
        db.session.execute(RevocationEvent.__table__.update().values(pushed=False))
        db.session.commit()
        outbox.flush(db.engine)
    assert [i for i, _ in stream(own_redis.url, outbox.key)] == ["1-0"]
    assert all(r.pushed for r in rows(app))


def test_racing_publishers_keep_one_gapless_order(make_app, own_redis):
    app = make_app(ISSUER=ISSUER)
    publishers = [outbox_for(own_redis.url) for _ in range(3)]  # three workers, say
    redis.Redis.from_url(own_redis.url).delete(publishers[0].key)
    with app.app_context():
        engine = db.engine
    done = threading.Event()

    def publish(outbox: RevocationOutbox) -> None:
        while not done.is_set():
            outbox.flush(engine)

    threads = [threading.Thread(target=publish, args=(p,)) for p in publishers]
    for thread in threads:
        thread.start()
    try:
        for n in range(20):
            append(app, f"jti-{n}")
        wait_until(lambda: all(r.pushed for r in rows(app)), 20, "every event pushed")
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert sorted(r.seq for r in rows(app)) == list(range(1, 21))
    entries = stream(own_redis.url, publishers[0].key)
    assert [i for i, _ in entries] == [f"{n}-0" for n in range(1, 21)]
    by_seq = {r.seq: r.subject for r in rows(app)}
    assert all(e["subject"] == by_seq[e["seq"]] for _, e in entries)


def test_a_stream_with_another_history_is_started_again(make_app, own_redis):
    """The database was replaced under a Redis that kept its stream: seq 1 is "equal or
    smaller" than the stream's last id, but it is not a duplicate."""
    app = make_app(REDIS_URL=own_redis.url, ISSUER=ISSUER)
    outbox = app.extensions["tessera"].outbox
    client = redis.Redis.from_url(own_redis.url)
    client.delete(outbox.key)
    client.xadd(outbox.key, {"event": "{}"}, id="500-0")
    append(app, "jti-new")  # its commit-time push finds the foreign stream and drops it
    assert not all(r.pushed for r in rows(app))
    with app.app_context():
        outbox.flush(db.engine)
    assert [(i, e["subject"]) for i, e in stream(own_redis.url, outbox.key)] == [("1-0", "jti-new")]
    assert all(r.pushed for r in rows(app))
