"""Authlib's authorization server, wired to Tessera's storage and policy.

Authlib does the protocol plumbing (parsing, client authentication, grant state machines,
PKCE, error shapes); this module plugs in storage and overrides its permissive defaults:
S256-only PKCE required per client policy, no implicit or password grant, rotating refresh
tokens with reuse detection, and JWT access tokens minted by ``TokenMinter``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.grants import OpenIDCode
from flask import g
from flask import request as flask_request

from idp.adapters.client_cache import ClientPolicyCache, watch
from idp.adapters.client_secrets import secret_matches, token_digest
from idp.adapters.models import AccessTokenRecord, AuthorizationCode, RefreshToken
from idp.adapters.models.base import utcnow
from idp.adapters.unit_of_work import SqlAlchemyUnitOfWork
from idp.domain.clients import (
    CLIENT_CREDENTIALS,
    ClientPolicy,
    redirect_uri_matches,
    resolve_requested_scopes,
)
from idp.services import audit, revocation
from idp.services.context import Caller
from idp.services.tokens import AccessTokenRequest, new_opaque_token


class OAuthClient(ClientMixin):
    """Authlib's view of an app, over an immutable ClientPolicy snapshot."""

    def __init__(
        self, policy: ClientPolicy, reload: Callable[[], ClientPolicy | None] | None = None
    ) -> None:
        self.policy = policy
        self.client_id = policy.client_id
        self._reload = reload  # set when the policy came from the process cache

    def get_client_id(self) -> str:
        return self.policy.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 3.1.2.3 permits a default only when exactly one URI is registered; OpenID
        # requests without redirect_uri are refused earlier (SECURITY-CHECKLIST 11).
        uris = self.policy.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_matches(redirect_uri, self.policy.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if _secret_ok(self.policy, client_secret):
            return True
        if self._reload is None:
            return False
        # The cached policy may predate a rotation made in another worker: ask the database once.
        fresh, self._reload = self._reload(), None
        if fresh is None:
            return False
        self.policy = fresh
        return _secret_ok(fresh, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.policy.suspended:
            return False
        if self.policy.confidential:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.policy.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.policy.grant_types


def _secret_ok(policy: ClientPolicy, client_secret: str) -> bool:
    now = time.time()
    live = [d for d, expires in policy.secret_digests if expires is None or expires > now]
    return bool(live) and secret_matches(client_secret, live)


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


class TesseraIssuerParameter(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


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
        row = uow.codes.by_digest(token_digest(code))
        if row is None or row.client_pk != client.policy.pk:
            return None
        now = utcnow()
        family_id = secrets.token_hex(16)
        if row.used_at is not None or not uow.codes.claim(row, family_id, now):
            # RFC 6749 4.1.2 / RFC 9700 4.2.4: a replayed code revokes what it produced.
            if row.family_id:
                revocation.revoke_family(uow, row.family_id, now)
                _audit_replay(
                    uow, "authorization_code.replayed", client, row.user_id, row.family_id
                )
                uow.commit()
            raise InvalidGrantError("The authorization code was already used.")
        if row.expires_at <= now:
            raise InvalidGrantError("The authorization code has expired.")
        grant = uow.grants.by_pk(row.grant_pk)
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrantError("The authorization was revoked.")
        row.family_id = family_id
        return CodeView(row, grant.gid)

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Nothing to do: the code was claimed atomically in query_authorization_code."""

    def authenticate_user(self, authorization_code: Any) -> Any:
        user = self.server.uow().users.get(authorization_code.row.user_id)
        return user if user is not None and user.disabled_at is None else None


def _audit_replay(uow: Any, event: str, client: Any, user_id: int, family_id: str) -> None:
    """A replayed credential means a stolen copy somewhere: the owner and admins should see it."""
    caller = Caller(
        ip=flask_request.remote_addr or "", user_agent=flask_request.user_agent.string or ""
    )
    client_id = client.get_client_id() if client is not None else None
    audit.record(uow, event, caller, user_id=user_id, client_id=client_id, family_id=family_id)


class CodeView:
    """What Authlib and the OpenID extension read from a stored code."""

    def __init__(self, row: AuthorizationCode, gid: str) -> None:
        self.row = row
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
        row = uow.refresh_tokens.by_digest(token_digest(refresh_token))
        if row is None or row.revoked_at is not None:
            return None
        now = utcnow()
        if row.rotated_at is not None or not uow.refresh_tokens.claim(row, now):
            self._reject_reuse(uow, row, now)
        if row.expires_at <= now or row.family_expires_at <= now:
            raise InvalidGrantError("The refresh token has expired.")
        grant = uow.grants.by_pk(row.grant_pk)
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrantError("The authorization was revoked.")
        return RefreshView(row, grant.gid)

    def _reject_reuse(self, uow: Any, row: RefreshToken, now: Any) -> None:
        rotated_at = uow.refresh_tokens.rotated_at(row.id)
        grace = timedelta(seconds=self.server.settings.REFRESH_TOKEN_REUSE_GRACE)
        if rotated_at is not None and now - rotated_at <= grace:
            # Two requests from the same client racing: one won a moment ago. Refuse this one
            # without punishing the winner.
            raise InvalidGrantError("The refresh token was just used by a concurrent request.")
        # RFC 9700 4.14.2: a rotated token presented again means two parties hold it.
        revocation.revoke_family(uow, row.family_id, now)
        _audit_replay(
            uow, "refresh_token.replayed", self.request.client, row.user_id, row.family_id
        )
        uow.commit()
        raise InvalidGrantError("The refresh token was already used; its whole family is revoked.")

    def authenticate_user(self, refresh_token: Any) -> Any:
        user = self.server.uow().users.get(refresh_token.row.user_id)
        return user if user is not None and user.disabled_at is None else None

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Nothing to do: the old token was rotated atomically when it was authenticated."""


class RefreshView:
    def __init__(self, row: RefreshToken, gid: str) -> None:
        self.row = row
        self.gid = gid

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


class TesseraAuthorizationServer(AuthorizationServer):
    def __init__(self, app: Any, tessera: Any) -> None:
        super().__init__()
        self.settings = tessera.settings
        self.catalogue = tessera.catalogue
        self.minter = tessera.minter
        self.keystore = tessera.keystore
        self.device_flow = tessera.device_flow
        self.clients = watch(ClientPolicyCache(tessera.settings.CLIENT_CACHE_TTL))
        self.machine_scopes = frozenset(n for n, s in tessera.catalogue.scopes.items() if s.machine)
        self.init_app(app)
        self.register_grant(
            AuthorizationCodeGrant, [S256CodeChallenge(required=True), TesseraOpenIDCode(self)]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        if self.device_flow is not None:
            self.register_grant(DeviceCodeGrant)
        self.register_extension(lambda server: _issuer_extension(server, self.settings.ISSUER))
        from idp.adapters.authlib_endpoints import (
            TesseraIntrospectionEndpoint,
            TesseraRevocationEndpoint,
        )

        self.register_endpoint(TesseraRevocationEndpoint)
        self.register_endpoint(TesseraIntrospectionEndpoint)

    # --- storage ---------------------------------------------------------------------------

    @staticmethod
    def uow() -> SqlAlchemyUnitOfWork:
        if "tessera_uow" not in g:
            g.tessera_uow = SqlAlchemyUnitOfWork()
        return g.tessera_uow

    def query_client(self, client_id: str) -> OAuthClient | None:
        memo = g.setdefault("tessera_clients", {})
        if client_id not in memo:
            policy = (
                self.clients.get(client_id) if isinstance(client_id, str) and client_id else None
            )
            reload = (
                (lambda: self.clients.get(client_id, fresh=True)) if self.clients.ttl > 0 else None
            )
            memo[client_id] = OAuthClient(policy, reload) if policy else None
        return memo[client_id]

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        uow = self.uow()
        for row in getattr(request, "tessera_rows", ()):
            if isinstance(row, RefreshToken):
                uow.refresh_tokens.add(row)
            else:
                uow.access_tokens.add(row)
        g.tessera_issued_to = request.client.policy.pk  # counted once the response is committed

    # --- token minting ---------------------------------------------------------------------

    def issue(self, grant: Any, user: Any, scope: str, include_refresh: bool) -> dict[str, Any]:
        request = grant.request
        client: ClientPolicy = request.client.policy
        scopes = getattr(request, "tessera_scopes", None) or tuple(scope.split())
        source = _grant_source(request)
        audience = source.audience if source else self.settings.audience
        minted = self.minter.access_token(
            AccessTokenRequest(
                client=client,
                scopes=scopes,
                audience=audience or self.settings.audience,
                subject=user.subject if user is not None else None,
                grant_id=source.gid if source else None,
                auth_time=source.auth_time_ts if source else None,
            )
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": minted.token,
            "expires_in": minted.expires_in,
            "scope": " ".join(scopes),
        }
        rows: list[Any] = []
        if user is not None and source is not None:
            rows.append(
                AccessTokenRecord(
                    jti=minted.jti,
                    client_pk=client.pk,
                    user_id=user.id,
                    grant_pk=source.grant_pk,
                    family_id=source.family_id,
                    expires_at=revocation.utc(minted.expires_at),
                )
            )
            wants_refresh = client.confidential or "offline_access" in scopes
            if include_refresh and "refresh_token" in client.grant_types and wants_refresh:
                token["refresh_token"] = self._new_refresh_token(client, source, user, rows)
        request.tessera_rows = rows
        return token

    def _new_refresh_token(
        self, client: ClientPolicy, source: GrantSource, user: Any, rows: list
    ) -> str:
        now = utcnow()
        value = new_opaque_token()
        absolute = client.refresh_token_ttl or self.settings.REFRESH_TOKEN_ABSOLUTE_TTL
        family_expires = source.family_expires_at or now + timedelta(seconds=absolute)
        rows.append(
            RefreshToken(
                digest=token_digest(value),
                family_id=source.family_id,
                client_pk=client.pk,
                user_id=user.id,
                grant_pk=source.grant_pk,
                scope=source.scope,  # a narrowed refresh keeps the full grant for the next one
                audience=source.audience,
                auth_time=source.auth_time,
                created_at=now,
                expires_at=min(
                    now + timedelta(seconds=self.settings.REFRESH_TOKEN_IDLE_TTL), family_expires
                ),
                family_expires_at=family_expires,
            )
        )
        return value


class GrantSource:
    """Where a user token comes from: the code, refresh token or device code that was redeemed."""

    def __init__(
        self, *, gid, grant_pk, family_id, scope, audience, auth_time, family_expires_at=None
    ) -> None:
        self.gid, self.grant_pk, self.family_id, self.scope = gid, grant_pk, family_id, scope
        self.audience, self.auth_time, self.family_expires_at = (
            audience,
            auth_time,
            family_expires_at,
        )

    @property
    def auth_time_ts(self) -> int | None:
        return int(self.auth_time.timestamp()) if self.auth_time else None


def _grant_source(request: OAuth2Request) -> GrantSource | None:
    code = getattr(request, "authorization_code", None)
    if isinstance(code, CodeView):
        row = code.row
        return GrantSource(
            gid=code.gid,
            grant_pk=row.grant_pk,
            family_id=row.family_id,
            scope=row.scope,
            audience=row.audience,
            auth_time=row.auth_time,
        )
    refresh = getattr(request, "refresh_token", None)
    if isinstance(refresh, RefreshView):
        row = refresh.row
        return GrantSource(
            gid=refresh.gid,
            grant_pk=row.grant_pk,
            family_id=row.family_id,
            scope=row.scope,
            audience=row.audience,
            auth_time=row.auth_time,
            family_expires_at=row.family_expires_at,
        )
    device = getattr(request, "tessera_device", None)
    if device is not None:
        return GrantSource(
            gid=device.gid,
            grant_pk=device.row.grant_pk,
            family_id=secrets.token_hex(16),
            scope=device.row.scope,
            audience="",
            auth_time=device.row.auth_time,
        )
    return None


def _issuer_extension(server: TesseraAuthorizationServer, issuer: str) -> TesseraIssuerParameter:
    extension = TesseraIssuerParameter(issuer)
    extension(server)
    return extension
