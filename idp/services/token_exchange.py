"""Token exchange (RFC 8693) for first-party services acting for a linked user: the policy.

The marketplace's Discord bot knows a user by their Discord id. It presents its own
credentials and a ``subject_token`` naming the user, and gets a short-lived access token for
that user with an ``act`` claim naming the bot (RFC 8693 4.1). The rules:
- only an app an admin marked first-party and allowed token exchange (else unauthorized_client);
- the subject is a linked Discord id (``SUBJECT_DISCORD_ID``) or an access token of ours that
  the user's app holds (``SUBJECT_ACCESS_TOKEN``); any other type is invalid_request;
- the user must have linked (Discord), hold an active account, and have an active grant for
  the bot's app, i.e. consented and not revoked (else invalid_grant);
- the scopes are at most what the user consented to the bot and what the bot may hold now;
  asking for more is invalid_scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idp.domain.clients import ClientPolicy, scopes_still_held
from idp.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from idp.services import audit
from idp.services.context import Caller
from idp.services.ports import Record, UnitOfWork

SUBJECT_DISCORD_ID = "urn:tessera:params:oauth:token-type:discord-user-id"
SUBJECT_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ISSUED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TYPES = (SUBJECT_DISCORD_ID, SUBJECT_ACCESS_TOKEN)


@dataclass(frozen=True)
class Exchange:
    user: Record
    grant: Record  # the user's grant to the bot's app: its gid goes in the token
    scopes: tuple[str, ...]


def _subject_user(
    uow: UnitOfWork,
    subject_token: str,
    subject_token_type: str,
    check_access_token: Callable[[str], dict[str, Any] | None],
) -> Record:
    if subject_token_type == SUBJECT_DISCORD_ID:
        link = uow.upstream_links.by_subject("discord", subject_token)
        if link is None:
            raise InvalidGrant("No Tessera account is linked to this Discord account.")
        return uow.users.get(link.user_id)
    if subject_token_type == SUBJECT_ACCESS_TOKEN:
        claims = check_access_token(subject_token)
        if claims is None or not claims.get("gid"):
            # Invalid, expired, revoked, or an app's own token (no user behind it).
            raise InvalidGrant("The subject token is not a valid user access token.")
        return uow.users.by_subject(str(claims["sub"]))
    raise InvalidRequest(
        f"Unsupported subject_token_type: use {SUBJECT_DISCORD_ID} or {SUBJECT_ACCESS_TOKEN}."
    )


def decide(
    uow: UnitOfWork,
    caller: Caller,
    client: ClientPolicy,
    *,
    subject_token: str | None,
    subject_token_type: str | None,
    requested_scope: str | None,
    check_access_token: Callable[[str], dict[str, Any] | None],
) -> Exchange:
    """The user and scopes to issue for, or the RFC 8693 2.2.2 error (audited when issued)."""
    if not (client.first_party and client.token_exchange):
        raise UnauthorizedClient("This app is not allowed to use token exchange.")
    if not subject_token or not subject_token_type:
        raise InvalidRequest("subject_token and subject_token_type are required.")
    user = _subject_user(uow, subject_token, subject_token_type, check_access_token)
    if user is None or user.disabled_at is not None:
        raise InvalidGrant("The user's account is not active.")
    grant = uow.grants.active(user.id, client.pk)
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrant("The user has not allowed this app, or revoked it.")
    may_hold = scopes_still_held(grant.scopes.split(), client.allowed_scopes)
    words = tuple(dict.fromkeys((requested_scope or "").split()))
    if words:
        beyond = [s for s in words if s not in may_hold]
        if beyond:
            raise InvalidScope("The request asks for more than the user allowed this app.")
        scopes = words
    else:
        scopes = may_hold
    if not scopes:
        raise InvalidScope("The user allowed this app no scope it may still hold.")
    audit.record(
        uow, "token_exchange.issued", caller, user_id=user.id, client_id=client.client_id,
        subject_token_type=subject_token_type, scopes=list(scopes),
    )  # fmt: skip
    return Exchange(user, grant, scopes)
