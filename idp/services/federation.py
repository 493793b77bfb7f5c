"""Federation policy: signing in with an upstream account, linking and unlinking it.

The rules (docs/federation.md, docs/security.md#31 "Federation never links silently"):
- an upstream account links to one Tessera account, and a Tessera account has at most one
  link per provider;
- an upstream sign-in that is not linked never links by e-mail: when its verified e-mail is an
  existing account's, the user must first sign in to that account (password and any second
  factor, through the normal login), and only then is the link made, to that very account;
- otherwise a new account is made for it, once the user has picked a username;
- the last way to sign in (no password and one link) cannot be unlinked.

The HTTP side (Authlib's client) is idp.protocol.upstream; this module only decides.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from idp.domain.clock import utcnow
from idp.errors import FieldErrors
from idp.services import audit
from idp.services.accounts import USERNAME_RE
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork


class FederationRefused(Exception):
    """A federation step refused, with the sentence the user sees."""


@dataclass(frozen=True)
class UpstreamIdentity:
    """Who the upstream provider says the user is (already verified by idp.protocol.upstream)."""

    provider: str
    subject: str
    username: str = ""
    email: str = ""
    email_verified: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> UpstreamIdentity | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{k: data[k] for k in ("provider", "subject", "username", "email")},
                       email_verified=bool(data.get("email_verified")))  # fmt: skip
        except (KeyError, TypeError):
            return None

    @property
    def verified_email(self) -> str:
        return self.email if self.email_verified else ""


@dataclass(frozen=True)
class SignedIn:
    user: Record


@dataclass(frozen=True)
class PasswordFirst:
    """The verified e-mail is an existing account's: sign in to it first, then link."""

    user_id: int


@dataclass(frozen=True)
class ChooseUsername:
    """No account is linked or matches: a new one, once the user has picked a username."""


def has_password(user: Record) -> bool:
    return bool(user.password_hash)


def upstream_sign_in(
    uow: UnitOfWork, caller: Caller, identity: UpstreamIdentity
) -> SignedIn | PasswordFirst | ChooseUsername:
    """What an upstream sign-in leads to; only a linked, enabled account signs in."""
    link = uow.upstream_links.by_subject(identity.provider, identity.subject)
    if link is not None:
        user = uow.users.get(link.user_id)
        if user is None or user.disabled_at is not None:
            raise FederationRefused("This account is disabled.")
        link.last_used_at = utcnow()
        if identity.username:
            link.username = identity.username[:255]
        audit.record(uow, "upstream.sign_in", caller, user_id=user.id, provider=identity.provider)
        uow.commit()
        return SignedIn(user)
    email = identity.verified_email
    existing = uow.users.by_login(email) if email and "@" in email else None
    if existing is not None:
        audit.record(
            uow, "upstream.link_pending", caller, user_id=existing.id, provider=identity.provider
        )
        uow.commit()
        return PasswordFirst(existing.id)
    return ChooseUsername()


def link(uow: UnitOfWork, caller: Caller, user: Record, identity: UpstreamIdentity) -> Record:
    """Link `identity` to `user`, who is signed in; committed."""
    taken = uow.upstream_links.by_subject(identity.provider, identity.subject)
    if taken is not None:
        if taken.user_id == user.id:
            return taken
        raise FederationRefused(
            "This upstream account is already linked to another Tessera account."
        )
    if uow.upstream_links.of_user(user.id, identity.provider) is not None:
        raise FederationRefused(
            "Your account is already linked to another account of this provider: unlink it first."
        )
    row = uow.upstream_links.create(
        user_id=user.id,
        provider=identity.provider,
        subject=identity.subject,
        username=identity.username[:255],
        email=identity.email[:254],
        last_used_at=utcnow(),
    )
    audit.record(uow, "upstream.linked", caller, user_id=user.id, provider=identity.provider)
    uow.commit()
    return row


def complete_pending_link(
    uow: UnitOfWork, caller: Caller, user: Record, identity: UpstreamIdentity, expected_user: int
) -> Record:
    """After the password sign-in that the e-mail collision asked for: link, to that account only."""
    if user.id != expected_user:
        raise FederationRefused(
            "You signed in to a different account than the one with this e-mail: nothing was linked."
        )
    return link(uow, caller, user, identity)


def unlink(uow: UnitOfWork, caller: Caller, user: Record, provider: str) -> None:
    """Remove the link; refused when it is the account's last way to sign in."""
    row = uow.upstream_links.of_user(user.id, provider)
    if row is None:
        raise FederationRefused("This account is not linked.")
    others = [r for r in uow.upstream_links.for_user(user.id) if r.provider != provider]
    if not has_password(user) and not others:
        raise FederationRefused("This is your only way to sign in, so it cannot be unlinked.")
    uow.upstream_links.delete(row)
    audit.record(uow, "upstream.unlinked", caller, user_id=user.id, provider=provider)
    uow.commit()


def create_account(
    uow: UnitOfWork, caller: Caller, identity: UpstreamIdentity, username: str
) -> Record:
    """A new account for an upstream identity no account has; signs in with it alone."""
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise FieldErrors("3 to 32 letters, digits, dots, dashes or underscores.", "username")
    if uow.users.username_taken(username):
        raise FieldErrors("This username is taken.", "username")
    email = identity.verified_email
    if not email:
        raise FederationRefused(
            "Your upstream account has no verified e-mail: create an account with a password, "
            "then link it from your account page."
        )
    if uow.users.email_taken(email):  # made since the sign-in: the collision rule again
        raise FederationRefused("An account with this e-mail exists: sign in to it to link.")
    if uow.upstream_links.by_subject(identity.provider, identity.subject) is not None:
        raise FederationRefused("This upstream account is already linked.")
    user = uow.users.create(
        subject=secrets.token_hex(16),
        username=username,
        username_key=username.lower(),
        email=email,
        email_key=email.lower(),
        email_verified=True,  # the provider verified it
        password_hash="",  # no password: signs in upstream only (see has_password)
    )
    audit.record(
        uow, "account.registered", caller, user_id=user.id, username=username,
        provider=identity.provider,
    )  # fmt: skip
    uow.upstream_links.create(
        user_id=user.id, provider=identity.provider, subject=identity.subject,
        username=identity.username[:255], email=email, last_used_at=utcnow(),
    )  # fmt: skip
    audit.record(uow, "upstream.linked", caller, user_id=user.id, provider=identity.provider)
    uow.commit()
    return user


def links_of(uow: UnitOfWork, user_id: int) -> list[Record]:
    return list(uow.upstream_links.for_user(user_id))
