"""Authlib's authorization server, wired to Tessera's storage and policy.

Authlib does the protocol plumbing (parsing, client authentication, grant state machines,
PKCE, error shapes); this module registers our grants (idp.protocol.grants: no
implicit or password grant), looks apps up through the process cache, and mints every token
with ``TokenMinter``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import g
from flask import request as flask_request

from idp.domain.clients import ClientPolicy, redirect_uri_matches
from idp.domain.clock import utcnow
from idp.domain.credentials import secret_matches
from idp.protocol.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
    TesseraOpenIDCode,
    grant_source,
)
from idp.services import token_issuance
from idp.services.token_issuance import RefreshLifetimes
from idp.storage.client_cache import ClientPolicyCache, watch
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork


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


# Set while idp.protocol.machine_endpoints calls Authlib: answers come back as (status, body, headers).
_PLAIN_ANSWERS: ContextVar[bool] = ContextVar("tessera_plain_answers", default=False)
Answer = tuple[int, bytes, list[tuple[str, str]]]


class TesseraIssuerParameter(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class TesseraAuthorizationServer(AuthorizationServer):
    def __init__(self, app: Any, tessera: Any) -> None:
        super().__init__()
        self.settings = tessera.settings
        self.catalogue = tessera.catalogue
        self.minter = tessera.minter
        self.keystore = tessera.keystore
        self.device_flow = tessera.device_flow
        self.lifetimes = RefreshLifetimes.from_settings(tessera.settings)
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
        from idp.protocol.endpoints import (
            TesseraIntrospectionEndpoint,
            TesseraRevocationEndpoint,
        )

        self.register_endpoint(TesseraRevocationEndpoint)
        self.register_endpoint(TesseraIntrospectionEndpoint)

    # --- answers without a Flask Response (idp.protocol.machine_endpoints) -------------------------

    def token_answer(self, request: OAuth2Request) -> Answer:
        return self._plain(self.create_token_response, request)

    def endpoint_answer(self, name: str, request: OAuth2Request) -> Answer:
        return self._plain(self.create_endpoint_response, name, request)

    @staticmethod
    def _plain(call: Callable[..., Any], *args: Any) -> Answer:
        reset = _PLAIN_ANSWERS.set(True)
        try:
            return call(*args)
        finally:
            _PLAIN_ANSWERS.reset(reset)

    def handle_response(self, status_code: int, payload: Any, headers: list) -> Any:
        if not _PLAIN_ANSWERS.get():
            return super().handle_response(status_code, payload, headers)
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"))
        body = payload.encode() if isinstance(payload, str) else payload
        return status_code, body, list(headers)

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
        issued = getattr(request, "tessera_issued", None)
        if issued is not None and issued.rows:
            token_issuance.save(self.uow(), issued)
        g.tessera_issued_to = request.client.policy.pk  # counted once the response is committed

    # --- token minting ---------------------------------------------------------------------

    def issue(self, grant: Any, user: Any, scope: str, include_refresh: bool) -> dict[str, Any]:
        request = grant.request
        issued = token_issuance.issue(
            self.minter,
            self.lifetimes,
            client=request.client.policy,
            scopes=getattr(request, "tessera_scopes", None) or tuple(scope.split()),
            user=user,
            source=grant_source(request),
            default_audience=self.settings.audience,
            include_refresh=include_refresh,
            now=utcnow(),
        )
        request.tessera_issued = issued
        return issued.body


def _issuer_extension(server: TesseraAuthorizationServer, issuer: str) -> TesseraIssuerParameter:
    extension = TesseraIssuerParameter(issuer)
    extension(server)
    return extension
