"""Which web origins may read Tessera's answers from a browser (CORS), as pure policy.

A single-page app calls the token, revocation and userinfo endpoints with fetch() from its own
origin. The only origins Tessera has any reason to trust are the ones the app registered, as
redirect URIs: the origin of each is allowed, nothing else (no wildcard, no suffix match, no
"null"). Only SPA apps get CORS: a web app or a service calls from its server, and a native app
from outside any browser, so a browser origin calling for them is never the app itself.

Discovery and the JWKS are public documents read without credentials, so they answer `*`
(idp.web.oidc): a wildcard without Access-Control-Allow-Credentials lets no cookie through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

CORS_APP_TYPES = frozenset({"spa"})
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight answer
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(uri: str) -> str | None:
    """The RFC 6454 origin (scheme://host[:port]) of an http(s) URI, normalised; else None."""
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def allowed_origins(app_type: str, redirect_uris: Iterable[str]) -> frozenset[str]:
    """The origins that may call for this app: its redirect URIs' origins, for an SPA only."""
    if app_type not in CORS_APP_TYPES:
        return frozenset()
    return frozenset(o for o in map(origin_of, redirect_uris) if o is not None)


def origin_allowed(origin: str | None, app_type: str, redirect_uris: Iterable[str]) -> bool:
    """Whether a request's Origin header names one of the app's allowed origins, exactly."""
    if not origin:
        return False
    normalised = origin_of(origin)
    # Compare the header as sent: a browser sends the serialised origin, nothing else.
    return normalised == origin and origin in allowed_origins(app_type, redirect_uris)


def is_cross_origin(origin: str | None, own_origins: Iterable[str]) -> bool:
    """True when a browser sent an Origin other than Tessera's own (same-origin pages pass)."""
    return bool(origin) and origin not in set(own_origins)


@dataclass(frozen=True)
class Preflight:
    """What an endpoint answers to an OPTIONS preflight (Fetch standard, CORS protocol)."""

    methods: tuple[str, ...]
    headers: tuple[str, ...]
    max_age: int = PREFLIGHT_MAX_AGE


TOKEN_PREFLIGHT = Preflight(("POST",), ("Content-Type",))
USERINFO_PREFLIGHT = Preflight(("GET", "POST"), ("Authorization", "Content-Type"))


def actual_headers(origin: str) -> list[tuple[str, str]]:
    """Headers on an answer the origin may read. No credentials: SPAs send tokens, not cookies."""
    return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]


def preflight_headers(origin: str | None, preflight: Preflight) -> list[tuple[str, str]]:
    """The preflight answer: the grant when `origin` is allowed, only `Vary` when it is not."""
    if not origin:
        return [("Vary", "Origin")]
    return [
        *actual_headers(origin),
        ("Access-Control-Allow-Methods", ", ".join(preflight.methods)),
        ("Access-Control-Allow-Headers", ", ".join(preflight.headers)),
        ("Access-Control-Max-Age", str(preflight.max_age)),
    ]
