"""Bearer authentication for the management API (RFC 6750): personal access tokens or
Tessera's own OAuth access tokens.

A personal access token (`tsr_pat_...`, idp.services.personal_tokens) is accepted here and
nowhere else; `apps:read` lets it read, `apps:manage` also write. An OAuth access token must be
valid and unrevoked and carry `apps:manage`. Either must belong to an active user: the
developer whose apps the request may touch.
"""

from __future__ import annotations

from flask import request

from idp.services import personal_tokens
from idp.services.own_tokens import decode_access_token, is_revoked
from idp.services.ports import Record
from idp.web.context import tessera, uow
from portal.api.errors import ApiError

SCOPE = "apps:manage"
REALM = 'Bearer realm="tessera-api"'


def _challenge(error: str, description: str, **extra: str) -> dict[str, str]:
    params = "".join(f', {k}="{v}"' for k, v in extra.items())
    return {
        "WWW-Authenticate": f'{REALM}, error="{error}", error_description="{description}"{params}'
    }


def authenticate(needed: str = SCOPE) -> Record:
    """The user the request's bearer token speaks for, if it allows `needed`; else ApiError."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header:
        # RFC 6750 3.1: no credentials at all gets a bare challenge, without an error code.
        raise ApiError(
            401, "unauthorized", "Send an access token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": REALM},
        )  # fmt: skip
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise _invalid("The Authorization header must be: Bearer <token>.")
    token = token.strip()
    if personal_tokens.looks_like_one(token):
        return _personal(token, needed)
    t = tessera()
    claims = decode_access_token(t.keystore, t.settings, token)
    work = uow()
    if claims is None or is_revoked(work, claims):
        raise _invalid("The access token is invalid, expired or revoked.")
    if SCOPE not in str(claims.get("scope", "")).split():
        raise _insufficient(SCOPE)
    user = work.users.by_subject(str(claims.get("sub", "")))
    if user is None or user.disabled_at is not None:
        raise _invalid("The access token does not belong to an active account.")
    return user


def _invalid(message: str) -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        message,
        headers=_challenge("invalid_token", "The token is not valid."),
    )


def _personal(token: str, needed: str) -> Record:
    bearer = personal_tokens.authenticate(uow(), token)
    if bearer is None:
        raise _invalid("The personal access token is invalid, expired or revoked.")
    if not personal_tokens.allows(bearer.scopes, needed):
        raise _insufficient(needed)
    return bearer.user


def _insufficient(scope: str) -> ApiError:
    return ApiError(
        403, "insufficient_scope", f"The token needs the {scope} scope.",
        headers=_challenge("insufficient_scope", f"The {scope} scope is needed.", scope=scope),
    )  # fmt: skip
