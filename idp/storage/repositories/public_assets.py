"""What the public pages serve about an app without a sign-in: its name and logo."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import Client, ClientLogo


class AppLogo(NamedTuple):
    name: str
    content_type: str | None  # None: the app has no logo of its own
    data: bytes | None


class SqlAlchemyPublicAssets:
    def logo(self, client_id: str) -> AppLogo | None:
        """None for an unknown app."""
        row = db.session.execute(
            select(Client.id, Client.name).where(Client.client_id == client_id)
        ).first()
        if row is None:
            return None
        logo = db.session.get(ClientLogo, row.id)
        if logo is None:
            return AppLogo(row.name, None, None)
        return AppLogo(row.name, logo.content_type, logo.data)
