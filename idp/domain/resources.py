"""Resource indicators (RFC 8707): which API an access token is for, i.e. its `aud`.

One token names one audience, so a resource server for one API can refuse a token meant for
another. The authorization endpoint records the audience with the code; at the token endpoint a
``resource`` may only name what this server knows, and for a code or a refresh token only what
the grant was made for (RFC 8707 2.2: a grant cannot be stretched to another API).
"""

from __future__ import annotations

from collections.abc import Collection

from idp.errors import InvalidTarget

UNKNOWN = "This server issues no tokens for the requested resource."
NOT_COVERED = (
    "The authorization does not cover the requested resource; ask for it at the "
    "authorization endpoint."
)


def token_audience(
    resource: str | None, *, known: Collection[str], covered: str | None, default: str
) -> str:
    """The `aud` of a new access token, or InvalidTarget.

    ``covered`` is the audience the redeemed grant was made for (a code's, a refresh token
    family's); None when the app acts for itself (client_credentials), which may name any known
    resource. The refused value is never echoed: it is request text.
    """
    granted = (covered or default) if covered is not None else None
    if resource is None:
        return granted or default
    if resource not in known:
        raise InvalidTarget(UNKNOWN, detail=f"resource={resource!r}")
    if granted is not None and resource != granted:
        raise InvalidTarget(NOT_COVERED, detail=f"resource={resource!r}, granted={granted!r}")
    return resource
