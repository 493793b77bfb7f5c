"""The browsers signed in to an account, as its user sees them, and signing them out.

A session is named on the page by a handle derived from its key, never by the key itself:
the key is the digest the cookie's token is looked up by, and need not leave the server.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from idp.domain.user_agents import describe
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import UnitOfWork


class UnknownSession(LookupError):
    """No session of this user has that handle (already ended, or someone else's)."""


@dataclass(frozen=True)
class SignedInDevice:
    handle: str
    device: str
    user_agent: str
    ip: str
    first_seen: datetime
    last_seen: datetime
    current: bool


def handle_of(id_digest: str) -> str:
    return hashlib.sha256(b"tessera-session-handle:" + id_digest.encode()).hexdigest()[:32]


def signed_in_devices(uow: UnitOfWork, user_id: int, current_digest: str) -> list[SignedInDevice]:
    """This browser first, then the others, most recently seen first."""
    found = [
        SignedInDevice(
            handle=handle_of(row.id_digest),
            device=describe(row.user_agent),
            user_agent=row.user_agent,
            ip=row.ip,
            first_seen=row.created_at,
            last_seen=row.last_seen_at,
            current=row.id_digest == current_digest,
        )
        for row in uow.sessions.for_user(user_id)
    ]
    found.sort(key=lambda d: (not d.current, -d.last_seen.timestamp()))
    return found


def sign_out_device(
    uow: UnitOfWork, caller: Caller, user_id: int, handle: str, current_digest: str
) -> str:
    """End one other session of the user; returns its device in words."""
    row = next(
        (s for s in uow.sessions.for_user(user_id) if handle_of(s.id_digest) == handle), None
    )
    if row is None:
        raise UnknownSession(handle)
    if row.id_digest == current_digest:
        raise FieldErrors("This is the browser you are using: use Sign out instead.")
    uow.sessions.delete(row.id_digest)
    device = describe(row.user_agent)
    audit.record(
        uow, "session.signed_out", caller, user_id=user_id, device=device, session_ip=row.ip
    )
    uow.commit()
    return device


def sign_out_other_devices(
    uow: UnitOfWork, caller: Caller, user_id: int, current_digest: str
) -> int:
    """End every session of the user but this browser's; returns how many ended."""
    others = [s for s in uow.sessions.for_user(user_id) if s.id_digest != current_digest]
    uow.sessions.delete_for_user(user_id, keep=current_digest)
    audit.record(uow, "session.signed_out_others", caller, user_id=user_id, count=len(others))
    uow.commit()
    return len(others)
