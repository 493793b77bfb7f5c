"""OpenID claims about a user, released by scope (OIDC Core 5.4)."""

from __future__ import annotations

from typing import Any, Protocol


class ClaimSource(Protocol):
    subject: str
    username: str
    email: str
    email_verified: bool


# Claims about a linked upstream account: (provider name, attribute of the link).
UPSTREAM_CLAIMS = {
    "discord_id": ("discord", "subject"),
    "discord_username": ("discord", "username"),
}


def upstream_claims(user: Any, wanted: set[str]) -> dict[str, Any]:
    """The wanted upstream claims this user has a link for (none when not linked)."""
    links = {link.provider: link for link in getattr(user, "upstream_links", None) or ()}
    out: dict[str, Any] = {}
    for claim in wanted & UPSTREAM_CLAIMS.keys():
        provider, attribute = UPSTREAM_CLAIMS[claim]
        if provider in links:
            out[claim] = getattr(links[provider], attribute)
    return out


def user_claims(user: ClaimSource, released: set[str]) -> dict[str, Any]:
    """The claims in `released` that this user has; `sub` always."""
    values: dict[str, Any] = {
        "sub": user.subject,
        "name": user.username,
        "preferred_username": user.username,
        "email": user.email,
        "email_verified": bool(user.email_verified),
    }
    updated = getattr(user, "updated_at", None)
    if updated is not None:
        values["updated_at"] = int(updated.timestamp())
    out = {"sub": user.subject}
    out.update({k: v for k, v in values.items() if k in released})
    if released & UPSTREAM_CLAIMS.keys():  # read the links only when a scope releases them
        out.update(upstream_claims(user, released))
    return out


# --- authentication context (OIDC Core 2: acr, amr) ------------------------------------------
# Our Authentication Context Class References, weakest first; advertised in discovery.
ACR_PASSWORD = "urn:tessera:acr:pwd"
ACR_MFA = "urn:tessera:acr:mfa"
ACR_VALUES = (ACR_PASSWORD, ACR_MFA)


def acr_for(amr: list[str]) -> str:
    """The class a sign-in with these RFC 8176 methods reaches: `mfa` means two kinds of factor."""
    return ACR_MFA if "mfa" in amr else ACR_PASSWORD
