"""Tessera's Authlib grants: storage for codes, refresh tokens and device codes, and our policy.

Overrides of Authlib's permissive defaults live here: S256-only PKCE required per client
policy, scopes decided by idp.domain.clients, one-use codes and rotating refresh tokens
claimed atomically, replays that revoke the family. Token minting is routed back to the
server (``TesseraAuthorizationServer.issue``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant
from authlib.oidc.core.grants import OpenIDCode

from idp.domain.clients import CLIENT_CREDENTIALS, resolve_requested_scopes
from idp.domain.clock import utcnow
from idp.domain.credentials import token_digest
from idp.domain.refresh_tokens import Reuse, classify_reuse, is_expired
from idp.services import audit, revocation
from idp.services.context import Caller
from idp.storage.models import AuthorizationCode, RefreshToken

if TYPE_CHECKING:
    from idp.protocol.server import OAuthClient, TesseraAuthorizationServer


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (plain refused), required whenever the client's policy says so."""

    DEFAULT_CODE_CHALLENGE_METHOD = "plain"  # RFC 7636 4.3: omitted means plain, which we refuse
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") and grant.request.client.policy.pkce_required():
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256."
            )
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class TokenIssuingMixin:
    """Routes every grant's token generation through TokenMinter, and checks scopes by policy."""

    def validate_requested_scope(self) -> None:
        server = self.server
        client: OAuthClient = self.request.client
        machine = server.machine_scopes if self.GRANT_TYPE == CLIENT_CREDENTIALS else None
        decision = resolve_requested_scopes(
            self.request.payload.scope,
            client.policy.allowed_scopes,
            server.catalogue.scopes,
            machine_only=machine,
        )
        if decision.error:
            raise InvalidScopeError(decision.error)
        self.request.tessera_scopes = decision.scopes

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ):
        return self.server.issue(self, user, scope or "", include_refresh_token)


class AuthorizationCodeGrant(TokenIssuingMixin, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def validate_authorization_request(self) -> str:
        redirect_uri = super().validate_authorization_request()
        # Authlib's get_allowed_scope saw the raw string; keep the de-duplicated list.
        self.request.scope = " ".join(getattr(self.request, "tessera_scopes", ()))
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        ctx = request.tessera_context  # set by the authorize view: grant row, session facts
        now = utcnow()
        data = request.payload.data
        self.server.uow().codes.add(
            AuthorizationCode(
                code_digest=token_digest(code),
                client_pk=request.client.policy.pk,
                user_id=request.user.id,
                grant_pk=ctx.grant_pk,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                audience=ctx.audience,
                auth_time=ctx.auth_time,
                amr=ctx.amr,
                expires_at=now + timedelta(seconds=self.server.settings.AUTHORIZATION_CODE_TTL),
            )
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> Any:
        uow = self.server.uow()
        now = utcnow()
        digest = token_digest(code)
        row = uow.codes.claim_by_digest(digest, client.policy.pk, secrets.token_hex(16), now)
        if row is None:
            spent = uow.codes.by_digest(digest)
            if spent is None or spent.client_pk != client.policy.pk:
                return None  # unknown, or another app's: left unused
            # RFC 6749 4.1.2 / RFC 9700 4.2.4: a replayed code revokes what it produced.
            if spent.family_id:
                revocation.revoke_family(uow, spent.family_id, now)
                _audit_replay(self, uow, "authorization_code.replayed", client, spent)
                uow.commit()
            raise InvalidGrantError("The authorization code was already used.")
        if row.expires_at <= now:
            raise InvalidGrantError("The authorization code has expired.")
        grant = uow.grants.standing(row.grant_pk)
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrantError("The authorization was revoked.")
        return CodeView(row, grant.gid)

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Nothing to do: the code was claimed atomically in query_authorization_code."""

    def authenticate_user(self, authorization_code: Any) -> Any:
        user = self.server.uow().users.get(authorization_code.row.user_id)
        return user if user is not None and user.disabled_at is None else None


def _audit_replay(grant: Any, uow: Any, event: str, client: Any, row: Any) -> None:
    """A replayed credential means a stolen copy somewhere: the owner and admins should see it."""
    # Set by idp.protocol.machine_endpoints from the WSGI environ (after ProxyFix).
    caller = getattr(grant.request, "tessera_caller", None) or Caller(ip="", user_agent="")
    user_id, family_id = row.user_id, row.family_id
    client_id = client.get_client_id() if client is not None else None
    audit.record(uow, event, caller, user_id=user_id, client_id=client_id, family_id=family_id)


class CodeView:
    """What Authlib and the OpenID extension read from a stored code."""

    def __init__(self, row: Any, gid: str) -> None:
        self.row = row  # the code's columns, as claimed
        self.gid = gid
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return self.row.amr.split()


class TesseraOpenIDCode(OpenIDCode):
    """ID tokens minted by TokenMinter (RS256, kid, at_hash, auth_time, amr, nonce)."""

    def __init__(self, server: TesseraAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # nonce replay is the client's check (OIDC Core 3.1.3.7); codes are one-use

    def encode_id_token(self, token: dict, request: OAuth2Request) -> str:
        code: CodeView = request.authorization_code
        return self.server.minter.id_token(
            client_id=request.client.get_client_id(),
            user=request.user,
            scopes=token["scope"].split(),
            nonce=code.get_nonce(),
            auth_time=code.get_auth_time(),
            amr=code.get_amr(),
            access_token=token["access_token"],
        )


class RefreshTokenGrant(TokenIssuingMixin, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        uow = self.server.uow()
        now = utcnow()
        digest = token_digest(refresh_token)
        row = uow.refresh_tokens.claim_by_digest(digest, now)  # rotated here, atomically
        if row is None:
            spent = uow.refresh_tokens.by_digest(digest)
            if spent is None or spent.revoked_at is not None:
                return None
            self._reject_reuse(uow, spent, now)
        if is_expired(row.expires_at, row.family_expires_at, now):
            raise InvalidGrantError("The refresh token has expired.")
        holder = uow.grants.with_user(row.grant_pk, row.user_id)
        if holder is None or holder.revoked_at is not None:
            raise InvalidGrantError("The authorization was revoked.")
        user = TokenUser(holder.user_id, holder.subject) if holder.disabled_at is None else None
        return RefreshView(row, holder.gid, user)

    def _reject_reuse(self, uow: Any, row: RefreshToken, now: Any) -> NoReturn:
        rotated_at = uow.refresh_tokens.rotated_at(row.id)
        grace = self.server.settings.REFRESH_TOKEN_REUSE_GRACE
        if classify_reuse(rotated_at, now, grace) is Reuse.CONCURRENT:
            # Two requests from the same client racing: one won a moment ago. Refuse this one
            # without punishing the winner.
            raise InvalidGrantError("The refresh token was just used by a concurrent request.")
        # RFC 9700 4.14.2: a rotated token presented again means two parties hold it.
        revocation.revoke_family(uow, row.family_id, now)
        _audit_replay(self, uow, "refresh_token.replayed", self.request.client, row)
        uow.commit()
        raise InvalidGrantError("The refresh token was already used; its whole family is revoked.")

    def authenticate_user(self, refresh_token: Any) -> Any:
        return refresh_token.user  # read with the grant; None when the account is disabled

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Nothing to do: the old token was rotated atomically when it was authenticated."""


@dataclass(frozen=True)
class TokenUser:
    """What minting needs of the user behind a refresh token (not the whole account row)."""

    id: int
    subject: str


class RefreshView:
    def __init__(self, row: Any, gid: str, user: TokenUser | None) -> None:
        self.row = row  # the refresh token's columns, as claimed
        self.gid = gid
        self.user = user

    def check_client(self, client: OAuthClient) -> bool:
        return self.row.client_pk == client.policy.pk

    def get_scope(self) -> str:
        return self.row.scope


class ClientCredentialsGrant(TokenIssuingMixin, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class DeviceCodeGrant(TokenIssuingMixin, _DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_device_credential(self, device_code: str) -> Any:
        return self.server.device_flow.credential(self.server.uow(), device_code)

    def query_user_grant(self, user_code: str) -> Any:
        return self.server.device_flow.user_grant(self.server.uow(), self.request, user_code)

    def should_slow_down(self, credential: Any) -> bool:
        return self.server.device_flow.should_slow_down(self.server.uow(), credential)


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


def _source(gid: str, row: Any, **extra: Any) -> GrantSource:
    fields = {
        "family_id": getattr(row, "family_id", None),
        "audience": getattr(row, "audience", ""),
    }
    fields.update(extra)
    return GrantSource(
        gid=gid, grant_pk=row.grant_pk, scope=row.scope, auth_time=row.auth_time, **fields
    )


def grant_source(request: OAuth2Request) -> GrantSource | None:
    code = getattr(request, "authorization_code", None)
    if isinstance(code, CodeView):
        return _source(code.gid, code.row)
    refresh = getattr(request, "refresh_token", None)
    if isinstance(refresh, RefreshView):
        return _source(refresh.gid, refresh.row, family_expires_at=refresh.row.family_expires_at)
    device = getattr(request, "tessera_device", None)
    if device is not None:
        # A device code starts a new refresh-token family; device codes carry no audience.
        return _source(device.gid, device.row, family_id=secrets.token_hex(16), audience="")
    return None
