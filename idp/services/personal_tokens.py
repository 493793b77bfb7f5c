"""Personal access tokens: a developer's own bearer credential for the management API.

A token reads `tsr_pat_<public id>_<secret>`: the prefix makes a leaked one easy to spot (and
to scan for), the public id finds the row, and only the SHA-256 digest of the secret is stored
and compared in constant time (256 random bits need no slow hash: docs/security.md#31).

Every token expires (at most a year): a forgotten token that works forever is the classic
leak. A token works only while its owner's account is active. Its last use is written at most
once a minute, so a busy script does not turn every API read into a database write.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.domain.clock import utcnow
from idp.domain.credentials import digest_secret
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

PREFIX = "tsr_pat_"
READ, MANAGE = "apps:read", "apps:manage"
SCOPES = {
    READ: "Read your apps, their members, access requests and usage.",
    MANAGE: "Everything read allows, and create, change and delete apps, rotate secrets, "
    "file requests and manage members.",
}
LIFETIMES_DAYS = (7, 30, 90, 365)
MAX_ACTIVE = 50  # per developer: plenty for scripts, and a bound on what one account can mint
NAME_MAX = 64
TOUCH_EVERY = timedelta(minutes=1)
_PUBLIC_ID_BYTES = 8  # 16 hex characters: never contains the "_" that ends it
_MAX_PRESENTED = 200
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Bearer:
    """Who a valid token speaks for, and what it may do."""

    user: Record
    scopes: frozenset[str]
    token: Record


def allows(scopes: frozenset[str] | set[str], needed: str) -> bool:
    """apps:manage includes apps:read."""
    return needed in scopes or (needed == READ and MANAGE in scopes)


def status(row: Record, now: datetime | None = None) -> str:
    """ "active", "expired" or "revoked", for the tokens page and the API."""
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "active"


def _checked(name: str, scopes: list[str], days: int) -> tuple[str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        errors["name"] = [f"Name the token in 1 to {NAME_MAX} characters."]
    wanted = list(dict.fromkeys(s for s in scopes or [] if s))
    if not wanted or any(s not in SCOPES for s in wanted):
        errors["scopes"] = [f"Choose one or more of: {', '.join(SCOPES)}."]
    if days not in LIFETIMES_DAYS:
        errors["expires_in_days"] = [
            f"Choose an expiry of {', '.join(map(str, LIFETIMES_DAYS))} days."
        ]
    if errors:
        raise FieldErrors(errors)
    return name, wanted


def create(
    uow: UnitOfWork, caller: Caller, user_id: int, name: str, scopes: list[str], days: int
) -> tuple[Record, str]:
    """Mint a token; returns (row, the token itself), which is shown once and never again."""
    name, wanted = _checked(name, scopes, days)
    now = utcnow()
    active = [r for r in uow.personal_tokens.for_user(user_id) if status(r, now) == "active"]
    if len(active) >= MAX_ACTIVE:
        raise FieldErrors(f"You have {MAX_ACTIVE} active tokens: revoke one first.", "name")
    public_id = secrets.token_hex(_PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(32)
    row = uow.personal_tokens.create(
        public_id=public_id, user_id=user_id, name=name, scopes=wanted,
        secret_digest=digest_secret(secret), created_at=now,
        expires_at=now + timedelta(days=days),
    )  # fmt: skip
    audit.record(
        uow, "personal_token.created", caller, user_id=user_id, token=public_id, name=name,
        scopes=wanted, expires_at=row.expires_at.isoformat(),
    )  # fmt: skip
    uow.commit()
    return row, f"{PREFIX}{public_id}_{secret}"


def tokens_of(uow: UnitOfWork, user_id: int) -> list[Record]:
    return list(uow.personal_tokens.for_user(user_id))


def _is_public_id(value: object) -> bool:
    """Shaped like an id we make, so nothing else (NUL bytes, megabytes) reaches a query."""
    return isinstance(value, str) and len(value) == 2 * _PUBLIC_ID_BYTES and set(value) <= _HEX


def revoke(uow: UnitOfWork, caller: Caller, user_id: int, public_id: str) -> Record:
    """Revoke one of the user's tokens; another user's token is "no such token"."""
    row = uow.personal_tokens.by_public_id(public_id) if _is_public_id(public_id) else None
    if row is None or row.user_id != user_id:
        raise FieldErrors("There is no such token.", "token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            uow, "personal_token.revoked", caller, user_id=user_id, token=row.public_id,
            name=row.name,
        )  # fmt: skip
        uow.commit()
    return row


def looks_like_one(presented: str) -> bool:
    """True for anything shaped as a personal token, valid or not: it is judged as one."""
    return presented.startswith(PREFIX)


def _split(presented: str) -> tuple[str, str] | None:
    if len(presented) > _MAX_PRESENTED or not presented.startswith(PREFIX):
        return None
    public_id, sep, secret = presented[len(PREFIX) :].partition("_")
    if not sep or not secret or not _is_public_id(public_id):
        return None
    return public_id, secret


def authenticate(uow: UnitOfWork, presented: str, now: datetime | None = None) -> Bearer | None:
    """The bearer behind a presented token, or None: unknown, wrong secret, revoked, expired,
    or an account that is disabled. Records the use (at most once per TOUCH_EVERY)."""
    parts = _split(presented)
    if parts is None:
        return None
    row = uow.personal_tokens.by_public_id(parts[0])
    # Compare even for an unknown id, so the answer takes as long either way.
    stored = row.secret_digest if row is not None else "0" * 64
    matches = hmac.compare_digest(digest_secret(parts[1]), stored)
    now = now or utcnow()
    if row is None or not matches or status(row, now) != "active":
        return None
    user = uow.users.get(row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        uow.commit()
    return Bearer(user=user, scopes=frozenset(row.scopes or []), token=row)
