"""Tessera on a real socket, for tests that drive it with real clients (interop, browser, e2e)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from idp import create_app
from idp.extensions import db
from tests.conftest import base_config


def start_live_tessera(
    database_url: str,
    instance: Path,
    *,
    prepare: Callable[[Flask], None] | None = None,
    host_name: str = "127.0.0.1",
    **settings: object,
) -> tuple[Flask, BaseWSGIServer, str]:
    """(app, server, issuer): migrated, signing keys made, serving from a daemon thread.

    The socket is bound first, so the issuer is the URL the clients really talk to. `prepare`
    runs inside an app context after the migration (seed a user, swap an adapter). `host_name`
    names the loopback in the issuer: WebAuthn needs a domain ("localhost"), not an IP address.
    """
    from flask_migrate import upgrade

    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
    issuer = f"http://{host_name}:{server.server_port}"
    app = create_app(base_config(database_url, instance, ISSUER=issuer, **settings))
    with app.app_context():
        upgrade()
        app.extensions["tessera"].keystore.ensure_keys()
        if prepare is not None:
            prepare(app)
        db.session.remove()
    holder["app"] = app
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server, issuer


def stop_live_tessera(app: Flask, server: BaseWSGIServer) -> None:
    server.shutdown()
    server.server_close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
