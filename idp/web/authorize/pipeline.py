"""The authorization request's checks, in the order they run (RFC 6749 4.1.1, OIDC Core 3.1.2).

Each check is one small function with one refusal. ``TRUST_CHECKS`` establish the client and
its redirect URI: until both are known good, a refusal must not send the browser anywhere, so
those errors are ``NeverRedirect`` and become an error page (docs/security.md#3). Refusals
from ``REQUEST_CHECKS`` on go back to the app with ``state`` and ``iss`` (idp.web.authorize.
responses). Login and consent come after these, in idp.web.authorize.views.

Nothing here touches Flask, Authlib or the database: the client lookup is handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from idp.domain.clients import ClientPolicy, matching_redirect_uri
from idp.domain.request_text import ascii_int
from idp.errors import (
    ConsentRequired,
    InvalidClient,
    InvalidRequest,
    InvalidTarget,
    LoginRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    UnsupportedResponseType,
)

MAX_QUERY = 2048  # the pending request rides in the session cookie (4 KiB limit)
SINGLE_VALUED = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age",
    "code_challenge", "code_challenge_method", "login_hint", "resource", "response_mode",
)  # fmt: skip


class NeverRedirect:
    """Marks a refusal made before the redirect URI is trusted: shown on a page, never sent."""


class MalformedRequest(NeverRedirect, InvalidRequest):
    pass


class UnknownClient(NeverRedirect, InvalidClient):
    pass


class UntrustedRedirectUri(NeverRedirect, InvalidRequest):
    pass


@dataclass
class AuthorizationRequest:
    """The request as the checks see it; the trust checks fill in client and redirect_uri."""

    query: Mapping[str, list[str]]  # every value sent, to catch repeated parameters
    query_length: int
    find_client: Callable[[str], ClientPolicy | None]
    resources: Collection[str]  # the resource indicators this server knows (RFC 8707)
    default_audience: str
    client: ClientPolicy | None = None
    redirect_uri: str = ""
    registered_redirect_uri: str = ""  # the registration it matched: what headers are built from
    audience: str = ""
    params: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.params = {name: values[0] for name, values in self.query.items() if values}

    @property
    def prompt(self) -> list[str]:
        return self.params.get("prompt", "").split()

    @property
    def state(self) -> str | None:
        return self.params.get("state")


Check = Callable[[AuthorizationRequest], None]


def run(checks: Iterable[Check], request: AuthorizationRequest) -> None:
    for check in checks:
        check(request)


# --- until the client and its redirect URI are trusted: error pages ------------------------


def reject_long_query(request: AuthorizationRequest) -> None:
    if request.query_length > MAX_QUERY:
        raise MalformedRequest("The authorization request is too long.")


def reject_repeated_parameters(request: AuthorizationRequest) -> None:
    repeated = next((n for n in SINGLE_VALUED if len(request.query.get(n, [])) > 1), None)
    if repeated:
        raise MalformedRequest(f"The parameter {repeated} was sent more than once (RFC 6749 3.1).")


def require_client_id(request: AuthorizationRequest) -> None:
    if not request.params.get("client_id"):
        raise MalformedRequest(
            "The request has no client_id: the app that sent you here is misconfigured."
        )


def load_client(request: AuthorizationRequest) -> None:
    request.client = request.find_client(request.params["client_id"])
    if request.client is None:
        raise UnknownClient("The app that sent you here is not registered with Tessera.")


def reject_suspended_client(request: AuthorizationRequest) -> None:
    if request.client.suspended:
        raise UnknownClient(f"The app {request.client.name} is suspended.")


def default_redirect_uri(request: AuthorizationRequest) -> None:
    """RFC 6749 3.1.2.3: omitted only when exactly one is registered and OpenID is not asked
    for (OIDC Core 3.1.2.1 makes it required, docs/security.md#11)."""
    given = request.params.get("redirect_uri", "")
    registered = request.client.redirect_uris
    is_openid = "openid" in request.params.get("scope", "").split()
    if not given and (is_openid or len(registered) != 1):
        raise UntrustedRedirectUri("The request has no redirect_uri, and this app must name one.")
    request.redirect_uri = given or registered[0]
    request.params["redirect_uri"] = request.redirect_uri


def check_redirect_uri(request: AuthorizationRequest) -> None:
    registered = matching_redirect_uri(request.redirect_uri, request.client.redirect_uris)
    if registered is None:
        raise UntrustedRedirectUri(
            "The redirect_uri is not registered for this app, so Tessera will not send you there."
        )
    request.registered_redirect_uri = registered


# --- from here on, refusals go back to the app ---------------------------------------------


def reject_request_object(request: AuthorizationRequest) -> None:
    if "request" in request.params:
        raise RequestNotSupported("Request objects are not supported.")


def reject_request_uri(request: AuthorizationRequest) -> None:
    if "request_uri" in request.params:
        raise RequestUriNotSupported("request_uri is not supported.")


def check_response_type(request: AuthorizationRequest) -> None:
    if request.params.get("response_type") != "code":
        raise UnsupportedResponseType("Only response_type=code is supported.")


def check_response_mode(request: AuthorizationRequest) -> None:
    if request.params.get("response_mode") not in (None, "query"):
        raise InvalidRequest("Only response_mode=query is supported.")


def check_max_age(request: AuthorizationRequest) -> None:
    max_age = request.params.get("max_age")
    if max_age is not None and ascii_int(max_age, max_digits=9) is None:
        raise InvalidRequest("max_age must be a number of seconds.")


def check_resource(request: AuthorizationRequest) -> None:
    """RFC 8707: the token's audience is the named resource, else the default one."""
    resource = request.params.get("resource")
    if resource and resource not in request.resources:
        raise InvalidTarget("The requested resource is not known to this server.")
    request.audience = resource or request.default_audience


TRUST_CHECKS: tuple[Check, ...] = (
    reject_long_query,
    reject_repeated_parameters,
    require_client_id,
    load_client,
    reject_suspended_client,
    default_redirect_uri,
    check_redirect_uri,
)

REQUEST_CHECKS: tuple[Check, ...] = (
    reject_request_object,
    reject_request_uri,
    check_response_type,
    check_response_mode,
    check_max_age,
    check_resource,
)
# Then, in the views: Authlib's validation (scope, PKCE), login, consent, the code.


# --- interactions the app asked us not to have (prompt=none) ---------------------------


def login_possible(request: AuthorizationRequest) -> None:
    if "none" in request.prompt:
        raise LoginRequired("The user is not signed in.")


def consent_possible(request: AuthorizationRequest) -> None:
    if "none" in request.prompt:
        raise ConsentRequired("The user has not consented to these scopes.")
