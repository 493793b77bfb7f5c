"""The revocation event log behind the feed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, exists, func, or_, select

from idp.extensions import db
from idp.services.revocation import CLIENT_CUTOFF
from idp.storage.models import Client, Grant, RevocationEvent

_clients, _grants, _events = Client.__table__.c, Grant.__table__.c, RevocationEvent.__table__.c
# Everything that can end an access token early, in one round trip (userinfo, introspection and
# the management API check every token they are shown): NULL means no such app or grant.
_ACCESS_TOKEN_STANDING = select(
    select(_clients.suspended_at.is_(None))
    .where(_clients.client_id == bindparam("client_id"))
    .scalar_subquery()
    .label("app_live"),
    select(_grants.revoked_at.is_(None))
    .where(_grants.gid == bindparam("gid"))
    .scalar_subquery()
    .label("grant_live"),
    exists()
    .where(_events.kind == "token", _events.subject == bindparam("jti"))
    .label("jti_revoked"),
    # Issue 12 item 8: an unsuspension cuts off every token its app was issued before it.
    exists()
    .where(
        _events.kind == CLIENT_CUTOFF,
        _events.subject == bindparam("client_id"),
        _events.created_at >= bindparam("after_iat"),
    )
    .label("cut_off"),
)


class SqlAlchemyRevocationLog:
    def append(self, kind: str, subject: str, until: datetime | None) -> None:
        db.session.add(RevocationEvent(kind=kind, subject=subject, until=until))

    def since(self, cursor: int, limit: int) -> list[RevocationEvent]:
        return list(
            db.session.scalars(
                select(RevocationEvent)
                .where(RevocationEvent.id > cursor)
                .order_by(RevocationEvent.id)
                .limit(limit)
            )
        )

    def in_force(self, now: datetime) -> list[RevocationEvent]:
        return list(
            db.session.scalars(
                select(RevocationEvent)
                .where(or_(RevocationEvent.until.is_(None), RevocationEvent.until > now))
                .order_by(RevocationEvent.id)
            )
        )

    def access_token_revoked(
        self, client_id: str, gid: str | None, jti: str, issued_at: int
    ) -> bool:
        """Revoked jti, revoked or unknown grant (when gid is given), suspended or unknown app,
        or issued before a cut-off of its app (iat is whole seconds: a cut-off at 100.7 ends
        tokens with iat 99 or less, so a token issued just after an unsuspension lives)."""
        after_iat = datetime.fromtimestamp(issued_at + 1, UTC)
        params = {"client_id": client_id, "gid": gid or "", "jti": jti, "after_iat": after_iat}
        standing = db.session.execute(_ACCESS_TOKEN_STANDING, params).one()
        if not standing.app_live or standing.jti_revoked or standing.cut_off:
            return True
        return bool(gid) and not standing.grant_live

    def latest_id(self) -> int:
        return db.session.scalar(select(func.max(RevocationEvent.id))) or 0

    def latest_seq(self) -> int:
        """The publication sequence the pushed channels have reached (docs/revocation-events.md)."""
        return db.session.scalar(select(func.max(RevocationEvent.seq))) or 0
