"""Authlib's authorization server, wired to Tessera's services and policy.

Authlib does the protocol plumbing (parsing, client authentication, grant state machines,
PKCE, error shapes); this module registers our grants (idp.protocol.grants: no implicit or
password grant) and looks apps up through the process cache. It subclasses Authlib's
framework-free server, so every answer is an ``Answer`` (status, body, headers): the machine
endpoints write it to WSGI, Flask views turn it into a Response with ``to_flask``.

The composition root (idp.app) hands in the storage it needs: the app policy cache and the
request's unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Response
from flask import request as flask_request

from idp.domain.clients import ClientPolicy
from idp.errors import safe_description
from idp.protocol.answers import Answer, answer, to_flask
from idp.protocol.client_auth import TesseraClientAuthentication
from idp.protocol.clients import OAuthClient
from idp.protocol.endpoints import TesseraIntrospectionEndpoint, TesseraRevocationEndpoint
from idp.protocol.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    DeviceCodeGrant,
    DeviceIDToken,
    RefreshTokenGrant,
    S256CodeChallenge,
    TesseraOpenIDCode,
    TokenExchangeGrant,
)
from idp.services.ports import UnitOfWork
from idp.services.secret_use import SecretUse
from idp.services.token_issuance import CodeContext, RefreshLifetimes


class ClientPolicies(Protocol):
    """The per-process cache of app policies (idp.storage.client_cache.ClientPolicyCache)."""

    ttl: float

    def get(self, client_id: str, *, fresh: bool = False) -> ClientPolicy | None: ...


class TesseraIssuerParameter(IssuerParameter):
    """RFC 9207: ``iss`` on every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class TesseraAuthorizationServer(AuthorizationServer):
    def __init__(
        self, tessera: Any, *, clients: ClientPolicies, uow: Callable[[], UnitOfWork]
    ) -> None:
        super().__init__()
        self.secret_use = SecretUse()
        self._client_auth = TesseraClientAuthentication(
            self.query_client, secret_used=lambda digest: self.secret_use.note(self.uow(), digest)
        )
        self.settings = tessera.settings
        self.catalogue = tessera.catalogue
        self.minter = tessera.minter
        self.keystore = tessera.keystore
        self.device_flow = tessera.device_flow
        self.clients = clients
        self.uow = uow  # the request's unit of work
        self.lifetimes = RefreshLifetimes.from_settings(tessera.settings)
        self.resources = tessera.settings.resources
        self.machine_scopes = frozenset(n for n, s in tessera.catalogue.scopes.items() if s.machine)
        self.register_grant(
            AuthorizationCodeGrant, [S256CodeChallenge(required=True), TesseraOpenIDCode(self)]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(TokenExchangeGrant)
        if self.device_flow is not None:
            self.register_grant(DeviceCodeGrant, [DeviceIDToken(self)])
        self.register_extension(lambda server: _issuer_extension(server, self.settings.ISSUER))
        self.register_endpoint(TesseraRevocationEndpoint)
        self.register_endpoint(TesseraIntrospectionEndpoint)

    # --- what Authlib asks of a framework integration --------------------------------------

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return answer(status, body, headers)

    def handle_error_response(self, request: Any, error: Any) -> Answer:
        """Every Authlib error is rendered here: its description made RFC 6749 5.2-safe."""
        if error.description:
            error.description = safe_description(error.description)
        return super().handle_error_response(request, error)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Nobody listens: Authlib's Flask integration turns these into blinker signals."""

    def query_client(self, client_id: str) -> OAuthClient | None:
        if not isinstance(client_id, str) or not client_id:
            return None
        policy = self.clients.get(client_id)
        if policy is None:
            return None
        reload = (lambda: self.clients.get(client_id, fresh=True)) if self.clients.ttl > 0 else None
        return OAuthClient(policy, reload)

    # --- the authorization endpoint's last step ----------------------------------------------

    def issue_code(
        self, grant: AuthorizationCodeGrant, user: Any, context: CodeContext
    ) -> Response:
        """Store a code for the consented request and redirect back to the app with it.

        The caller commits: the code is stored in the same transaction as the consent it rests
        on (idp.services.consent.approve). Answered with 303: never 307 after the consent POST
        (RFC 9700 4.12).
        """
        grant.code_context = context
        result = self.create_authorization_response(
            request=grant.request, grant_user=user, grant=grant
        )
        response = to_flask(result)
        response.status_code = 303
        return response


def _issuer_extension(server: TesseraAuthorizationServer, issuer: str) -> TesseraIssuerParameter:
    extension = TesseraIssuerParameter(issuer)
    extension(server)
    return extension
