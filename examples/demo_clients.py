"""Create (once) the apps `make demo` needs and print their credentials as JSON.

This helper talks to Tessera's services directly, as an operator would with the CLI:
a resource-server app for the examples (market:read revocations:read), a bot
(client_credentials: market:read ws:connect) and a web app for a user token. The
credentials are kept in the instance folder and reused while the apps exist.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from idp import create_app
from idp.private_files import write_private
from idp.services import apps
from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

CALLBACK = "http://127.0.0.1:8400/callback"
APPS = {
    "resource_server": apps.ClientSpec(
        name="Market API (make demo)",
        app_type="service",
        scopes=["market:read", "revocations:read"],
    ),
    "bot": apps.ClientSpec(
        name="Market Bot (make demo)", app_type="service", scopes=["market:read", "ws:connect"]
    ),
    "trader": apps.ClientSpec(
        name="Market Trader (make demo)",
        app_type="web",
        redirect_uris=[CALLBACK],
        scopes=["openid", "profile", "offline_access", "orders:read", "orders:write", "ws:connect"],
    ),
}


def ensure_apps() -> dict[str, dict[str, str]]:
    app = create_app()
    path = Path(app.instance_path) / "demo-market-apps.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, dict[str, str]] = {}
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        for key, spec in APPS.items():
            known = saved.get(key)
            if known and uow.clients.by_client_id(known["client_id"]) is not None:
                out[key] = known
                continue
            client, secret = apps.create_client(
                uow,
                app.extensions["tessera"].catalogue,
                Caller(),
                spec,
                owner_id=None,
                allow_restricted=True,  # an operator's decision, like `tessera clients create`
            )
            out[key] = {"client_id": client.client_id, "client_secret": secret or ""}
    write_private(path, json.dumps(out, indent=2))  # 0600 from the start: it holds secrets
    return out


if __name__ == "__main__":
    json.dump(ensure_apps(), sys.stdout)
    print()
