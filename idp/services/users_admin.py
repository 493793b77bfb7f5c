"""What an admin does to accounts: find them, disable (and re-enable) them, make admins.

Disabling ends the account's access everywhere at once: its login sessions are deleted, and
every grant it gave an app is revoked (refresh tokens die now, the feed carries the gids).
"""

from __future__ import annotations

from datetime import datetime

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit, revocation
from idp.services.app_admin import clean_text
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork


def search_users(uow: UnitOfWork, query: str = "", limit: int = 50, offset: int = 0) -> list:
    return list(uow.users.search(clean_text(query, 254), limit=limit, offset=offset))


def owned_apps(uow: UnitOfWork, user_id: int) -> list[Record]:
    return list(uow.clients.owned_by(user_id))


def active_grant_count(uow: UnitOfWork, user_id: int) -> int:
    return uow.grants.count_active_for_user(user_id)


def disable_user(
    uow: UnitOfWork,
    window: revocation.RevocationWindow,
    caller: Caller,
    admin: Record,
    user: Record,
    reason: str,
    now: datetime | None = None,
) -> int:
    """Disable `user`: sessions end, grants are revoked. Returns how many grants were revoked."""
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise FieldErrors("Give a reason of 3 to 500 characters for the audit log.", "reason")
    if user.id == admin.id:
        raise FieldErrors("You cannot disable your own account.", "reason")
    if user.disabled_at is not None:
        raise FieldErrors("This account is already disabled.", "reason")
    now = now or utcnow()
    user.disabled_at = user.updated_at = now
    uow.sessions.delete_for_user(user.id)
    grants = uow.grants.active_for_user(user.id)
    for grant in grants:
        revocation.revoke_grant(uow, window, grant, now)
    audit.record(
        uow, "admin.user_disabled", caller, user_id=admin.id, target_user_id=user.id,
        target_username=user.username, reason=reason, grants_revoked=len(grants),
    )  # fmt: skip
    uow.commit()
    return len(grants)


def enable_user(uow: UnitOfWork, caller: Caller, admin: Record, user: Record) -> None:
    """Let a disabled account sign in again; the grants it lost stay revoked."""
    if user.disabled_at is None:
        raise FieldErrors("This account is not disabled.", "user")
    if user.deleted_at is not None:
        raise FieldErrors("This account was deleted by its user; it cannot be enabled.", "user")
    user.disabled_at = None
    user.updated_at = utcnow()
    audit.record(
        uow, "admin.user_enabled", caller, user_id=admin.id, target_user_id=user.id,
        target_username=user.username,
    )  # fmt: skip
    uow.commit()


def set_admin(
    uow: UnitOfWork, caller: Caller, admin: Record, user: Record, make_admin: bool
) -> None:
    if user.id == admin.id and not make_admin:
        # Otherwise the last admin could lock everyone out of the console.
        raise FieldErrors("You cannot remove your own admin role.", "user")
    if bool(user.is_admin) == make_admin:
        raise FieldErrors(
            "This account is already an admin." if make_admin else "This account is not an admin.",
            "user",
        )
    user.is_admin = make_admin
    user.updated_at = utcnow()
    audit.record(
        uow, "admin.admin_granted" if make_admin else "admin.admin_removed", caller,
        user_id=admin.id, target_user_id=user.id, target_username=user.username,
    )  # fmt: skip
    uow.commit()


def make_admin(uow: UnitOfWork, caller: Caller, user: Record) -> None:
    """The operator's `create-admin`: no admin acts, so nothing is checked against one; the
    grant is audited like one made in the console, with no acting account."""
    user.is_admin = True
    user.updated_at = utcnow()
    audit.record(
        uow, "admin.admin_granted", caller, user_id=None, target_user_id=user.id,
        target_username=user.username, via="tessera create-admin",
    )  # fmt: skip
    uow.commit()


def promote_by_operator(uow: UnitOfWork, caller: Caller, user: Record, email: str) -> bool:
    """`create-admin` naming an existing account. Its email must be the account's, so a typo
    in --username does not make a stranger an admin. False when it already was one."""
    if (user.email or "").strip().casefold() != (email or "").strip().casefold():
        raise FieldErrors(
            f"The account {user.username!r} exists with another email address; nothing was "
            "changed. Give its own email to make it an administrator.",
            "email",
        )
    if user.is_admin:
        return False
    make_admin(uow, caller, user)
    return True
