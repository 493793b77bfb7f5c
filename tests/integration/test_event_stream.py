"""/oauth/revocations/stream on SQLite and PostgreSQL: authenticated like the feed, a bounded
number of open streams per process, each stream's slot given back when it closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from idp.services import apps
from idp.services.revocation import revoke_access_token
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.security.conftest import App, register_app

FEED = "/oauth/revocations"
STREAM = "/oauth/revocations/stream"


def resource_server(app, scopes=("market:read", "revocations:read")) -> App:
    return register_app(app, apps.ClientSpec(name="API", app_type="service", scopes=list(scopes)))


def open_stream(client, rs: App, **headers: str):
    return client.get(STREAM, headers={**rs.basic(), **headers}, buffered=False)


def test_the_stream_is_authenticated_like_the_feed(make_app):
    app = make_app()
    client = app.test_client()
    assert client.get(STREAM).status_code == 401
    stranger = resource_server(app, scopes=("market:read",))
    refused = client.get(STREAM, headers=stranger.basic())
    assert refused.status_code == 403 and refused.json["error"] == "unauthorized_client"


def test_a_stream_starts_with_the_snapshot_then_resumes_after_its_last_event_id(make_app):
    app = make_app()
    rs = resource_server(app)
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        revoke_access_token(uow, "jti-1", datetime.now(UTC) + timedelta(hours=1))
        uow.commit()
    client = app.test_client()
    response = open_stream(client, rs)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert "Content-Length" not in response.headers
    chunks = response.response
    assert next(chunks) == b"retry: 1000\n\n"
    snapshot = next(chunks).decode()
    assert snapshot.startswith("id: 1\nevent: snapshot\n") and '"jti":"jti-1"' in snapshot
    response.close()
    resumed = open_stream(client, rs, **{"Last-Event-ID": "0"}).response
    assert next(resumed) == b"retry: 1000\n\n"
    assert next(resumed).decode().startswith("id: 1\nevent: revocation\n")
    resumed.close()


def test_open_streams_are_bounded_and_a_closed_one_frees_its_slot(make_app):
    app = make_app(SSE_MAX_STREAMS=1)
    rs = resource_server(app)
    client = app.test_client()
    first = open_stream(client, rs)
    assert first.status_code == 200
    busy = open_stream(client, rs)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    first.close()  # never iterated: its slot is given back all the same
    again = open_stream(client, rs)
    assert again.status_code == 200
    again.close()
