"""The per-process app cache: fast path, invalidation at commit, bounded staleness elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from idp.services import apps
from idp.services.context import Caller
from idp.storage.client_cache import ClientPolicyCache
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.security.conftest import App, register_app

GRANT = {"grant_type": "client_credentials"}


def bot(app) -> App:
    return register_app(
        app, apps.ClientSpec(name="Bot", app_type="service", scopes=["market:read"])
    )


def test_second_token_request_reads_no_app_row(app, client):
    service = bot(app)
    assert client.post("/oauth/token", data=GRANT, headers=service.basic()).status_code == 200
    loads = []
    cache: ClientPolicyCache = app.extensions["tessera"].oauth.clients
    original = cache._loader
    cache._loader = lambda cid: loads.append(cid) or original(cid)
    assert client.post("/oauth/token", data=GRANT, headers=service.basic()).status_code == 200
    assert loads == []


def test_suspension_in_this_process_takes_effect_at_once(app, client):
    service = bot(app)
    assert client.post("/oauth/token", data=GRANT, headers=service.basic()).status_code == 200
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        apps.suspend(uow, Caller(), uow.clients.by_client_id(service.client_id), "abuse")
    assert client.post("/oauth/token", data=GRANT, headers=service.basic()).status_code == 400


def test_other_worker_sees_suspension_within_ttl(make_app):
    worker_a, worker_b = make_app(), make_app()
    service = bot(worker_a)
    with freeze_time(datetime.now(UTC)) as frozen:
        assert (
            worker_b.test_client()
            .post("/oauth/token", data=GRANT, headers=service.basic())
            .status_code
            == 200
        )
        with worker_a.app_context():
            uow = SqlAlchemyUnitOfWork()
            apps.suspend(uow, Caller(), uow.clients.by_client_id(service.client_id), "abuse")
        ttl = worker_b.extensions["tessera"].settings.CLIENT_CACHE_TTL
        frozen.tick(timedelta(seconds=ttl + 1))
        assert (
            worker_b.test_client()
            .post("/oauth/token", data=GRANT, headers=service.basic())
            .status_code
            == 400
        )


def test_secret_rotated_in_another_worker_works_at_once(make_app):
    worker_a, worker_b = make_app(), make_app()
    service = bot(worker_a)
    assert (
        worker_b.test_client().post("/oauth/token", data=GRANT, headers=service.basic()).status_code
        == 200
    )
    with worker_a.app_context():
        uow = SqlAlchemyUnitOfWork()
        secret = apps.rotate_secret(uow, Caller(), uow.clients.by_client_id(service.client_id), 0)
    fresh = App(service.client_id, secret, "")
    assert (
        worker_b.test_client().post("/oauth/token", data=GRANT, headers=fresh.basic()).status_code
        == 200
    )


def test_unknown_client_ids_do_not_grow_the_cache_without_bound():
    cache = ClientPolicyCache(ttl=60, loader=lambda cid: None)
    for i in range(10_050):
        cache.get(f"random-{i}")
    assert len(cache._entries) <= 10_000
