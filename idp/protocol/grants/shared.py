"""What every grant shares: PKCE (S256 only), the scope check by app policy, and issuance.

Grants call services (idp.services.token_issuance) and hold no policy of their own; they reach
the server only through the small ``GrantServer`` interface, so the server can import them
without them importing it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.domain.clients import resolve_requested_scopes
from idp.domain.clock import utcnow
from idp.domain.scopes import ScopeCatalogue
from idp.errors import OAuthError
from idp.services import token_issuance
from idp.services.context import Caller
from idp.services.device_flow import DeviceFlow
from idp.services.ports import UnitOfWork
from idp.services.token_issuance import GrantSource, IssuedTokens, RefreshLifetimes
from idp.services.tokens import TokenMinter

NO_CALLER = Caller(ip="", user_agent="")


class GrantServer(Protocol):
    """What grants need of the authorization server."""

    settings: Any
    catalogue: ScopeCatalogue
    minter: TokenMinter
    lifetimes: RefreshLifetimes
    machine_scopes: frozenset[str]
    resources: frozenset[str]  # RFC 8707: every audience a token may name
    device_flow: DeviceFlow | None
    keystore: Any  # checks our own access tokens (token exchange's subject_token)

    def uow(self) -> UnitOfWork: ...


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
    """Scopes checked by app policy; tokens minted and remembered by idp.services.token_issuance.

    Authlib makes one grant object per request, so what a request decided (its scopes, the
    tokens issued) is kept on the grant.
    """

    MACHINE_ONLY = False  # client_credentials: only scopes marked for machines
    server: GrantServer
    request: Any
    scopes: tuple[str, ...] | None = None
    issued: IssuedTokens | None = None

    def validate_requested_scope(self) -> None:
        server = self.server
        decision = resolve_requested_scopes(
            self.request.payload.scope,
            self.request.client.policy.allowed_scopes,
            server.catalogue.scopes,
            machine_only=server.machine_scopes if self.MACHINE_ONLY else None,
        )
        if decision.error:
            raise InvalidScopeError(decision.error)
        self.scopes = decision.scopes

    def grant_source(self) -> GrantSource | None:
        """The redeemed credential the tokens come from; None for the app acting for itself."""
        return None

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ) -> dict[str, Any]:
        server = self.server
        with as_authlib_error():
            self.issued = token_issuance.issue(
                server.minter,
                server.lifetimes,
                client=self.request.client.policy,
                scopes=self.scopes or tuple((scope or "").split()),
                user=user,
                source=self.grant_source(),
                default_audience=server.settings.audience,
                include_refresh=include_refresh_token,
                now=utcnow(),
                resource=self.request.payload.data.get("resource"),
                resources=server.resources,
            )
        return self.issued.body

    def save_token(self, token: dict) -> None:
        if self.issued is not None and self.issued.remembers_anything:
            token_issuance.save(self.server.uow(), self.issued)


def caller_of(request: Any) -> Caller:
    """Who sent a token request (idp.protocol.requests.MachineOAuth2Request knows)."""
    caller = getattr(request, "caller", None)
    return caller if isinstance(caller, Caller) else NO_CALLER


@contextmanager
def as_authlib_error() -> Iterator[None]:
    """A service's refusal, as the Authlib error that renders it (same code, same description)."""
    try:
        yield
    except OAuthError as refused:
        raise OAuth2Error(
            refused.description, status_code=refused.status_code, error=refused.error
        ) from refused
