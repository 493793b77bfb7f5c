"""Tessera advertises its pushed revocation channels in discovery, and the middleware finds
them there: no URL or stream key copied by hand (docs/revocation-events.md).

Through Flask's test client, on SQLite and PostgreSQL; the middleware reads discovery through
a fetcher that calls the same test client.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from tessera_middleware import RevocationFeedPoller, RevocationState
from tessera_middleware.http import HttpResponse
from tessera_middleware.redis_stream import RedisRevocationStream
from tessera_middleware.revocation_events import default_stream_key
from tessera_middleware.sse import SseRevocationStream

from tests.integration.conftest import issuer, redis_url  # noqa: F401 - fixtures

DISCOVERY = "/.well-known/openid-configuration"


def fetcher(app: Flask):
    client, base = app.test_client(), app.extensions["tessera"].settings.ISSUER

    def fetch(url: str, headers: Mapping[str, str]) -> HttpResponse:
        path = url.removeprefix(base)
        response = client.get(path, headers=dict(headers))
        return HttpResponse(response.status_code, response.get_data())

    return fetch


def poller(app: Flask) -> RevocationFeedPoller:
    return RevocationFeedPoller(
        RevocationState(),
        issuer=app.extensions["tessera"].settings.ISSUER,
        client_id="rs",
        client_secret="unused",
        http=fetcher(app),
    )


def test_discovery_advertises_the_event_stream_and_no_redis_key_without_redis(make_app):
    app = make_app()
    for path in (DISCOVERY, "/.well-known/oauth-authorization-server"):
        doc = app.test_client().get(path).get_json()
        assert (
            doc["tessera_revocation_events_endpoint"] == "http://localhost/oauth/revocations/stream"
        )
        assert doc["tessera_revocation_events_version"] == 1
        assert "tessera_revocation_stream_key" not in doc
    follower = SseRevocationStream(RevocationState(), poller(app))
    assert follower.endpoint() == "http://localhost/oauth/revocations/stream"
    # The stream answers (401 without credentials): the advertised URL is a real endpoint.
    assert app.test_client().get("/oauth/revocations/stream").status_code == 401


def test_discovery_advertises_the_redis_stream_key_tessera_writes(make_app, redis_url, issuer):  # noqa: F811
    app = make_app(REDIS_URL=redis_url, ISSUER=issuer)
    outbox_key = app.extensions["tessera"].outbox.key
    doc = app.test_client().get(DISCOVERY).get_json()
    assert doc["tessera_revocation_stream_key"] == outbox_key
    assert doc["tessera_revocation_events_endpoint"] == f"{issuer}/oauth/revocations/stream"
    assert "redis://" not in str(doc)  # where Redis is stays private
    follower = RedisRevocationStream(RevocationState(), poller(app), redis_url)
    assert follower.resolve_key() == outbox_key == default_stream_key(issuer)
