"""The token endpoint's use cases: redeem a code or a refresh token, then issue tokens.

What Authlib's grants call (idp.protocol.grants). Redemption claims the credential atomically
(one use, even under concurrency); a credential presented again revokes what it produced
(RFC 6749 4.1.2, RFC 9700 4.14.2) and is audited. Issuance mints the access token, decides on a
refresh token and says which rows to insert; the caller inserts them and commits once.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from idp.domain.clients import ClientPolicy, scopes_still_held
from idp.domain.credentials import token_digest
from idp.domain.refresh_tokens import Reuse, classify_reuse, is_expired, new_token_expiry
from idp.domain.resources import token_audience
from idp.errors import InvalidGrant, InvalidScope
from idp.services import audit, revocation
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork
from idp.services.tokens import AccessTokenRequest, TokenMinter, new_opaque_token


@dataclass(frozen=True)
class RefreshLifetimes:
    """The server's refresh-token settings (TESSERA_REFRESH_TOKEN_*), in seconds."""

    idle_ttl: int
    absolute_ttl: int
    reuse_grace: int

    @classmethod
    def from_settings(cls, settings: Any) -> RefreshLifetimes:
        return cls(
            settings.REFRESH_TOKEN_IDLE_TTL,
            settings.REFRESH_TOKEN_ABSOLUTE_TTL,
            settings.REFRESH_TOKEN_REUSE_GRACE,
        )


@dataclass(frozen=True)
class GrantSource:
    """Where a user token comes from: the code, refresh token or device code that was redeemed."""

    gid: str
    grant_pk: int
    family_id: str
    scope: str
    audience: str
    auth_time: datetime | None
    family_expires_at: datetime | None = None

    @property
    def auth_time_ts(self) -> int | None:
        return int(self.auth_time.timestamp()) if self.auth_time else None

    @classmethod
    def of_code(cls, gid: str, row: Record) -> GrantSource:
        return cls(gid, row.grant_pk, row.family_id, row.scope, row.audience, row.auth_time)

    @classmethod
    def of_refresh_token(cls, gid: str, row: Record) -> GrantSource:
        return cls(
            gid,
            row.grant_pk,
            row.family_id,
            row.scope,
            row.audience,
            row.auth_time,
            row.family_expires_at,
        )

    @classmethod
    def of_device_code(cls, gid: str, row: Record) -> GrantSource:
        # A device code starts a new refresh-token family; device codes carry no audience.
        return cls(gid, row.grant_pk, secrets.token_hex(16), row.scope, "", row.auth_time)


@dataclass(frozen=True)
class TokenUser:
    """What minting needs of the user behind a refresh token (not the whole account row)."""

    id: int
    subject: str


@dataclass
class IssuedTokens:
    """The token response, and the rows to insert once it is sent."""

    body: dict[str, Any]
    access_token_row: dict[str, Any] | None = None  # the jti, for revocation by family
    refresh_token_row: dict[str, Any] | None = None

    @property
    def remembers_anything(self) -> bool:
        return self.access_token_row is not None or self.refresh_token_row is not None


def issue(
    minter: TokenMinter,
    lifetimes: RefreshLifetimes,
    *,
    client: ClientPolicy,
    scopes: tuple[str, ...],
    user: Any,
    source: GrantSource | None,
    default_audience: str,
    include_refresh: bool,
    now: datetime,
    resource: str | None = None,
    resources: Collection[str] = (),
) -> IssuedTokens:
    """An access token, and a refresh token when the app may have one (RFC 6749 5.1).

    A user token carries only the granted scopes the app may still hold: the app's scopes may
    have been narrowed since the code or the refresh token was issued (``scope`` says so).
    Its audience is the grant's; ``resource`` (RFC 8707) may name it, or for the app acting for
    itself any of ``resources``.
    """
    if source is not None:
        scopes = _still_held(scopes, client)
    audience = token_audience(
        resource,
        known=resources,
        covered=source.audience if source is not None else None,
        default=default_audience,
    )
    minted = minter.access_token(
        AccessTokenRequest(
            client=client,
            scopes=scopes,
            audience=audience,
            subject=user.subject if user is not None else None,
            grant_id=source.gid if source else None,
            auth_time=source.auth_time_ts if source else None,
        )
    )
    issued = IssuedTokens(
        {
            "token_type": "Bearer",
            "access_token": minted.token,
            "expires_in": minted.expires_in,
            "scope": " ".join(scopes),
        }
    )
    if user is not None and source is not None:  # else the app acting for itself: nothing kept
        _remember(issued, minted, lifetimes, client, source, user, include_refresh, now)
    return issued


def _remember(
    issued: IssuedTokens,
    minted: Any,
    lifetimes: RefreshLifetimes,
    client: ClientPolicy,
    source: GrantSource,
    user: Any,
    include_refresh: bool,
    now: datetime,
) -> None:
    """The access token's row (revocation by family), and a refresh token when it is due."""
    issued.access_token_row = {
        "jti": minted.jti,
        "client_pk": client.pk,
        "user_id": user.id,
        "grant_pk": source.grant_pk,
        "family_id": source.family_id,
        "expires_at": revocation.utc(minted.expires_at),
    }
    wants_refresh = client.confidential or "offline_access" in issued.body["scope"].split()
    if include_refresh and "refresh_token" in client.grant_types and wants_refresh:
        value, row = _refresh_token_row(lifetimes, client, source, user, now)
        issued.body["refresh_token"] = value
        issued.refresh_token_row = row


def _still_held(scopes: tuple[str, ...], client: ClientPolicy) -> tuple[str, ...]:
    held = scopes_still_held(scopes, client.allowed_scopes)
    if not held:
        raise InvalidScope("This app may no longer hold any of the scopes the user granted.")
    return held


def _refresh_token_row(
    lifetimes: RefreshLifetimes, client: ClientPolicy, source: GrantSource, user: Any, now: datetime
) -> tuple[str, dict[str, Any]]:
    value = new_opaque_token()
    expiry = new_token_expiry(
        now,
        idle_ttl=lifetimes.idle_ttl,
        absolute_ttl=lifetimes.absolute_ttl,
        client_absolute_ttl=client.refresh_token_ttl,
        family_expires_at=source.family_expires_at,
    )
    row = {
        "digest": token_digest(value),
        "family_id": source.family_id,
        "client_pk": client.pk,
        "user_id": user.id,
        "grant_pk": source.grant_pk,
        "scope": source.scope,  # a narrowed refresh keeps the full grant for the next one
        "audience": source.audience,
        "auth_time": source.auth_time,
        "created_at": now,
        "expires_at": expiry.expires_at,
        "family_expires_at": expiry.family_expires_at,
    }
    return value, row


def save(uow: UnitOfWork, issued: IssuedTokens) -> None:
    """Insert the issued rows (Core inserts: no ORM unit of work on the hot path)."""
    if issued.access_token_row is not None:
        uow.access_tokens.insert(issued.access_token_row)
    if issued.refresh_token_row is not None:
        uow.refresh_tokens.insert(issued.refresh_token_row)


# --- RFC 6749 6 / RFC 9700 4.14.2: the refresh token grant ------------------------------------


@dataclass(frozen=True)
class RedeemedRefreshToken:
    row: Record  # the token's columns, as claimed (rotated)
    gid: str
    user: TokenUser | None  # None when the account is disabled


def redeem_refresh_token(
    uow: UnitOfWork,
    presented: str,
    *,
    client_id: str,
    caller: Caller,
    reuse_grace: int,
    now: datetime,
) -> RedeemedRefreshToken | None:
    """Rotate the presented token; None when it is unknown or revoked, InvalidGrant when refused."""
    digest = token_digest(presented)
    row = uow.refresh_tokens.claim_by_digest(digest, now)  # rotated here, atomically
    if row is None:
        spent = uow.refresh_tokens.by_digest(digest)
        if spent is None or spent.revoked_at is not None:
            return None
        _refuse_reuse(uow, spent, client_id, caller, reuse_grace, now)
    if is_expired(row.expires_at, row.family_expires_at, now):
        raise InvalidGrant("The refresh token has expired.")
    holder = uow.grants.with_user(row.grant_pk, row.user_id)
    if holder is None or holder.revoked_at is not None:
        raise InvalidGrant("The authorization was revoked.")
    user = TokenUser(holder.user_id, holder.subject) if holder.disabled_at is None else None
    return RedeemedRefreshToken(row, holder.gid, user)


def _refuse_reuse(
    uow: UnitOfWork,
    row: Record,
    client_id: str,
    caller: Caller,
    reuse_grace: int,
    now: datetime,
) -> None:
    rotated_at = uow.refresh_tokens.rotated_at(row.id)
    if classify_reuse(rotated_at, now, reuse_grace) is Reuse.CONCURRENT:
        # Two requests from the same client racing: one won a moment ago. Refuse this one
        # without punishing the winner.
        raise InvalidGrant("The refresh token was just used by a concurrent request.")
    # A rotated token presented again means two parties hold it.
    revocation.revoke_family(uow, row.family_id, now)
    _audit_replay(uow, "refresh_token.replayed", caller, client_id, row)
    uow.commit()
    raise InvalidGrant("The refresh token was already used; its whole family is revoked.")


def _audit_replay(
    uow: UnitOfWork, event: str, caller: Caller, client_id: str | None, row: Record
) -> None:
    """A replayed credential means a stolen copy somewhere: the owner and admins should see it."""
    audit.record(
        uow, event, caller, user_id=row.user_id, client_id=client_id, family_id=row.family_id
    )


# --- RFC 6749 4.1.3: the authorization code grant ---------------------------------------------


@dataclass(frozen=True)
class CodeContext:
    """What the stored code remembers beyond the request: the grant and the sign-in's facts."""

    grant_pk: int
    audience: str
    auth_time: datetime
    amr: str


def save_code(
    uow: UnitOfWork,
    code: str,
    *,
    client_pk: int,
    user_id: int,
    context: CodeContext,
    request: dict[str, Any],
    ttl: int,
    now: datetime,
) -> None:
    """Remember an issued code by its digest, with what its exchange must check and carry."""
    uow.codes.create(
        code_digest=token_digest(code),
        client_pk=client_pk,
        user_id=user_id,
        grant_pk=context.grant_pk,
        redirect_uri=request.get("redirect_uri") or "",
        scope=request.get("scope") or "",
        nonce=request.get("nonce"),
        code_challenge=request.get("code_challenge"),
        code_challenge_method=request.get("code_challenge_method"),
        audience=context.audience,
        auth_time=context.auth_time,
        amr=context.amr,
        expires_at=now + timedelta(seconds=ttl),
    )


@dataclass(frozen=True)
class RedeemedCode:
    row: Record  # the code's columns, as claimed
    gid: str


def redeem_code(
    uow: UnitOfWork,
    presented: str,
    *,
    client_pk: int,
    client_id: str,
    caller: Caller,
    now: datetime,
) -> RedeemedCode | None:
    """Use the code once; None when unknown or another app's, InvalidGrant when refused."""
    digest = token_digest(presented)
    row = uow.codes.claim_by_digest(digest, client_pk, secrets.token_hex(16), now)
    if row is None:
        spent = uow.codes.by_digest(digest)
        if spent is None or spent.client_pk != client_pk:
            return None  # unknown, or another app's: left unused
        # RFC 6749 4.1.2 / RFC 9700 4.2.4: a replayed code revokes what it produced.
        if spent.family_id:
            revocation.revoke_family(uow, spent.family_id, now)
            _audit_replay(uow, "authorization_code.replayed", caller, client_id, spent)
            uow.commit()
        raise InvalidGrant("The authorization code was already used.")
    if row.expires_at <= now:
        raise InvalidGrant("The authorization code has expired.")
    grant = uow.grants.standing(row.grant_pk)
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrant("The authorization was revoked.")
    return RedeemedCode(row, grant.gid)


def active_user(uow: UnitOfWork, user_id: int) -> Record | None:
    """The account a code was issued for, unless it has been disabled since."""
    user = uow.users.get(user_id)
    return user if user is not None and user.disabled_at is None else None
