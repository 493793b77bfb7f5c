"""Demo data for `make run`: three apps owned by the demo admin, created once.

An app is recognised by its fixed name and its owner (the demo `admin` account), so running
`tessera seed-demo` again changes nothing, and an app a developer happens to name the same way
is left alone. Secrets exist only at creation, so only newly created apps produce lines.
"""

from __future__ import annotations

from dataclasses import replace

from idp.domain.scopes import ScopeCatalogue
from idp.services.app_specs import ClientSpec
from idp.services.apps import create_client
from idp.services.context import Caller
from idp.services.ports import UnitOfWork

DEMO_OWNER = "admin"
DEMO_CALLER = Caller(ip="cli", user_agent="tessera-cli")

DEMO_APPS: tuple[ClientSpec, ...] = (
    ClientSpec(
        name="Demo Market Web",
        app_type="web",
        redirect_uris=["http://127.0.0.1:8000/callback"],
        scopes=["openid", "profile", "email", "offline_access", "orders:read", "transactions:read"],
        description="A server-side web app (confidential, authorization code with PKCE).",
    ),
    ClientSpec(
        name="Demo Trade Companion",
        app_type="native",
        redirect_uris=["http://127.0.0.1:8765/callback"],
        scopes=["openid", "profile", "orders:read", "offline_access"],
        description="A desktop companion (public client, loopback redirect, PKCE S256).",
    ),
    ClientSpec(
        name="Demo Market API",
        app_type="service",
        scopes=["market:read", "revocations:read"],
        description="The example market API and WebSocket server: reads the revocation feed.",
    ),
)


def seed_demo_clients(uow: UnitOfWork, catalogue: ScopeCatalogue) -> list[str]:
    """Create the demo apps when missing; return lines with any secret shown for the first time."""
    owner = uow.users.by_login(DEMO_OWNER)
    if owner is None:
        raise RuntimeError("seed the demo admin account before the demo apps")
    existing = {(c.name, c.owner_id) for c in uow.clients.all()}
    lines = []
    for spec in DEMO_APPS:
        if (spec.name, owner.id) in existing:
            continue
        # replace(): create_client normalises its spec in place; keep DEMO_APPS pristine.
        client, secret = create_client(
            uow, catalogue, DEMO_CALLER, replace(spec), owner_id=owner.id, allow_restricted=True
        )
        line = f"{spec.app_type} app {client.name}: client_id={client.client_id}"
        lines.append(line + (f" client_secret={secret}" if secret else " (public, no secret)"))
    return lines
