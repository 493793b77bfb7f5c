"""Tessera's Authlib grants: storage for codes, refresh tokens and device codes, and our policy.

Overrides of Authlib's permissive defaults live here: S256-only PKCE required per client
policy, scopes decided by idp.domain.clients, one-use codes and rotating refresh tokens
claimed atomically, replays that revoke the family. Token minting is routed back to the
server (``TesseraAuthorizationServer.issue``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant
from authlib.oidc.core.grants import OpenIDCode

from idp.domain.clients import CLIENT_CREDENTIALS, resolve_requested_scopes
from idp.domain.clock import utcnow
from idp.errors import InvalidGrant
from idp.services import token_issuance
from idp.services.context import Caller
from idp.services.token_issuance import GrantSource, TokenUser

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
        token_issuance.save_code(
            self.server.uow(),
            code,
            client_pk=request.client.policy.pk,
            user_id=request.user.id,
            context=ctx,
            request={**request.payload.data, "scope": request.scope},
            ttl=self.server.settings.AUTHORIZATION_CODE_TTL,
            now=utcnow(),
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> Any:
        with _as_authlib_error():
            redeemed = token_issuance.redeem_code(
                self.server.uow(),
                code,
                client_pk=client.policy.pk,
                client_id=client.get_client_id(),
                caller=_caller(self.request),
                now=utcnow(),
            )
        return CodeView(redeemed.row, redeemed.gid) if redeemed else None

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Nothing to do: the code was claimed atomically in query_authorization_code."""

    def authenticate_user(self, authorization_code: Any) -> Any:
        return token_issuance.active_user(self.server.uow(), authorization_code.row.user_id)


def _caller(request: OAuth2Request) -> Caller:
    # Set by idp.protocol.machine_endpoints from the WSGI environ (after ProxyFix).
    return getattr(request, "tessera_caller", None) or Caller(ip="", user_agent="")


@contextmanager
def _as_authlib_error() -> Iterator[None]:
    """A service's refusal, as the Authlib error that renders it (same code, same description)."""
    try:
        yield
    except InvalidGrant as refused:
        raise InvalidGrantError(refused.description) from refused


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
        with _as_authlib_error():
            redeemed = token_issuance.redeem_refresh_token(
                self.server.uow(),
                refresh_token,
                client_id=self.request.client.get_client_id(),
                caller=_caller(self.request),
                reuse_grace=self.server.settings.REFRESH_TOKEN_REUSE_GRACE,
                now=utcnow(),
            )
        return RefreshView(redeemed.row, redeemed.gid, redeemed.user) if redeemed else None

    def authenticate_user(self, refresh_token: Any) -> Any:
        return refresh_token.user  # read with the grant; None when the account is disabled

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Nothing to do: the old token was rotated atomically when it was authenticated."""


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


def grant_source(request: OAuth2Request) -> GrantSource | None:
    code = getattr(request, "authorization_code", None)
    if isinstance(code, CodeView):
        return GrantSource.of_code(code.gid, code.row)
    refresh = getattr(request, "refresh_token", None)
    if isinstance(refresh, RefreshView):
        return GrantSource.of_refresh_token(refresh.gid, refresh.row)
    device = getattr(request, "tessera_device", None)
    if device is not None:
        return GrantSource.of_device_code(device.gid, device.row)
    return None
