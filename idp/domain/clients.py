"""What an app is allowed to be and do: app types, redirect URI rules, scope policy.

Pure functions over plain values, so the portal, the CLI and the protocol layer share one
definition of "valid" (docs/security.md#1, #2, #5, #6).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from idp.domain.grants import (  # noqa: F401 - the grant type names, also importable from here
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    REFRESH_TOKEN,
    grant_types_for,
)


@dataclass(frozen=True)
class AppType:
    name: str
    label: str
    confidential: bool
    redirects: bool  # uses the browser redirect flow

    @property
    def grant_types(self) -> tuple[str, ...]:
        return grant_types_for(self.name)


APP_TYPES: dict[str, AppType] = {
    t.name: t
    for t in (
        AppType("web", "Web app (server-side, keeps a secret)", True, True),
        AppType("spa", "Single-page app (browser, public, PKCE)", False, True),
        AppType("native", "Native or desktop app (public, PKCE)", False, True),
        AppType("service", "Service or bot (acts for itself)", True, False),
        AppType("device", "Device or CLI (device flow)", False, False),
    )
}

_REVERSE_DOMAIN_SCHEME = re.compile(r"^[a-z][a-z0-9+\-]*(\.[a-z0-9+\-]+)+$")
# The host goes into the consent page's CSP: nothing there may end or extend a directive.
_PLAIN_NETLOC = re.compile(r"([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", re.ASCII)


class InvalidRedirectUri(ValueError):
    """Why a redirect URI cannot be registered, phrased for the developer."""


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str, app_type: str) -> str:
    """Return the URI when it may be registered for this app type, else raise InvalidRedirectUri."""
    uri = uri.strip()
    if not uri:
        raise InvalidRedirectUri("The redirect URI is empty.")
    if len(uri) > 500:
        raise InvalidRedirectUri("The redirect URI is longer than 500 characters.")
    if any(c.isspace() for c in uri) or "*" in uri:
        raise InvalidRedirectUri(
            f"{uri}: wildcards and spaces are not allowed; register each exact URI."
        )
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise InvalidRedirectUri(f"{uri}: not a valid URL.") from None
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUri(f"{uri}: a redirect URI must not contain a fragment (#...).")
    if parts.username or parts.password:
        raise InvalidRedirectUri(f"{uri}: a redirect URI must not contain a user name or password.")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and not _PLAIN_NETLOC.fullmatch(parts.netloc):
        raise InvalidRedirectUri(
            f"{uri}: the host may contain only letters, digits, dots and dashes."
        )
    if scheme == "https":
        if not parts.hostname:
            raise InvalidRedirectUri(f"{uri}: an https redirect URI needs a host.")
        return uri
    if scheme == "http":
        if parts.hostname == "localhost":
            raise InvalidRedirectUri(
                f"{uri}: use http://127.0.0.1 or http://[::1] instead of localhost (RFC 8252 8.3)."
            )
        if not is_loopback_host(parts.hostname):
            raise InvalidRedirectUri(
                f"{uri}: plain http is only allowed for loopback addresses (127.0.0.1, [::1])."
            )
        del port  # any port is accepted at runtime for loopback (RFC 8252 7.3)
        return uri
    if not scheme:
        raise InvalidRedirectUri(f"{uri}: an absolute URI with a scheme is required.")
    if app_type != "native":
        raise InvalidRedirectUri(f"{uri}: custom URI schemes are only for native apps.")
    if not _REVERSE_DOMAIN_SCHEME.match(scheme):
        raise InvalidRedirectUri(
            f"{uri}: a custom scheme must be a reverse domain name you control, such as com.example.app:/callback (RFC 8252 7.1)."
        )
    return uri


def check_redirect_uris(uris: Iterable[str], app_type: str) -> tuple[list[str], list[str]]:
    """(valid URIs without duplicates, one message per invalid entry)."""
    valid: list[str] = []
    errors: list[str] = []
    for uri in uris:
        if not uri.strip():
            continue
        try:
            checked = check_redirect_uri(uri, app_type)
        except InvalidRedirectUri as exc:
            errors.append(str(exc))
            continue
        if checked not in valid:
            valid.append(checked)
    return valid, errors


_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


def _loopback_parts(uri: str) -> tuple[str, str, str] | None:
    """(host, port, rest) of an http loopback URI written plainly, else None.

    Read by hand rather than by urlsplit, which skips userinfo: "http://x;...@127.0.0.1/cb" has
    127.0.0.1 for hostname, and that is how request text once reached the consent page's CSP.
    """
    if not uri.startswith("http://"):
        return None
    after_scheme = uri[len("http://") :]
    cut = min((i for i in map(after_scheme.find, "/?#") if i >= 0), default=len(after_scheme))
    netloc, rest = after_scheme[:cut], after_scheme[cut:]
    if "@" in netloc or "#" in rest:
        return None
    if netloc.startswith("["):
        host, _, port_part = netloc.partition("]")
        host += "]"
    else:
        host, _, port_part = netloc.partition(":")
        port_part = ":" + port_part if ":" in netloc else ""
    if port_part and not (
        port_part.startswith(":") and _PORT.fullmatch(port_part[1:]) and int(port_part[1:]) <= 65535
    ):
        return None
    if not is_loopback_host(host) or host.strip("[]") != str(
        ipaddress.ip_address(host.strip("[]"))
    ):
        return None  # only the canonical literal: "127.1" is not "127.0.0.1" to a reviewer
    return host, port_part[1:], rest


def matching_redirect_uri(requested: str, registered: Iterable[str]) -> str | None:
    """The registered URI that `requested` stands for, or None (docs/security.md#1).

    Exact string match; the one exception is an http loopback URI, which may name any port
    (RFC 8252 7.3, RFC 9700 2.1) and differ in nothing else: no userinfo, the same host literal,
    path and query.
    """
    registered = list(registered)
    if requested in registered:
        return requested
    wanted = _loopback_parts(requested)
    if wanted is None:
        return None
    for uri in registered:
        have = _loopback_parts(uri)
        if have is not None and (have[0], have[2]) == (wanted[0], wanted[2]):
            return uri
    return None


def redirect_uri_matches(requested: str, registered: Iterable[str]) -> bool:
    return matching_redirect_uri(requested, registered) is not None


@dataclass(frozen=True)
class ScopeDecision:
    scopes: tuple[str, ...] = ()
    error: str | None = None


def resolve_requested_scopes(
    requested: str | None,
    allowed: Iterable[str],
    known: Iterable[str],
    *,
    machine_only: frozenset[str] | None = None,
) -> ScopeDecision:
    """The scopes to grant, or why the request gets `invalid_scope`.

    An omitted scope is refused for user flows (RFC 6749 3.3 lets a server fail rather than
    guess); for client_credentials (machine_only given) it means every machine scope allowed.
    """
    allowed_set, known_set = set(allowed), set(known)
    if machine_only is not None:
        allowed_set &= machine_only
    words = (requested or "").split()
    if not words:
        if machine_only is not None:
            return ScopeDecision(tuple(sorted(allowed_set)))
        return ScopeDecision(error="The scope parameter is required.")
    unique = tuple(dict.fromkeys(words))
    unknown = [s for s in unique if s not in known_set]
    if unknown:
        # Never echoed: the request's text is not ours to put in an error (RFC 6749 5.2).
        many = "scopes" if len(unknown) > 1 else "scope"
        return ScopeDecision(error=f"The request names {len(unknown)} unknown {many}.")
    refused = [s for s in unique if s not in allowed_set]
    if refused:
        return ScopeDecision(error=f"This app may not request: {' '.join(refused)}.")
    return ScopeDecision(unique)


def scopes_still_held(granted: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    """The granted scopes the app may hold now, in the grant's order.

    A grant records what the user consented to; what the app may be issued is also what its
    policy allows today. An approved restricted scope is one its allowed scopes list, so a
    withdrawn approval (or a scope the owner removed) ends here, at the next refresh.
    """
    allowed_set = set(allowed)
    return tuple(dict.fromkeys(s for s in granted if s in allowed_set))


def missing_consent(granted: Iterable[str], requested: Iterable[str]) -> list[str]:
    """The requested scopes the user has not consented to yet; consent is asked for these only."""
    have = set(granted)
    return [s for s in requested if s not in have]


@dataclass(frozen=True)
class ClientPolicy:
    """An app as the protocol layer sees it: an immutable snapshot, safe to cache per process."""

    pk: int
    client_id: str
    name: str
    app_type: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    allowed_scopes: tuple[str, ...]
    tier: str
    custom_rps: float | None
    custom_burst: int | None
    require_pkce: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    suspended: bool
    secret_digests: tuple[tuple[str, float | None], ...] = field(default=(), repr=False)
    first_party: bool = False  # an admin's mark: consent implied (docs/federation.md)
    token_exchange: bool = False  # an admin allowed RFC 8693 token exchange (first-party only)

    @property
    def confidential(self) -> bool:
        return APP_TYPES[self.app_type].confidential

    def pkce_required(self) -> bool:
        return (not self.confidential) or self.require_pkce
