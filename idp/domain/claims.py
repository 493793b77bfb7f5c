"""OpenID claims about a user, released by scope (OIDC Core 5.4)."""

from __future__ import annotations

from typing import Any, Protocol


class ClaimSource(Protocol):
    subject: str
    username: str
    email: str
    email_verified: bool


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
    return out


# --- authentication context (OIDC Core 2: acr, amr) ------------------------------------------
# Our Authentication Context Class References, weakest first; advertised in discovery.
ACR_PASSWORD = "urn:tessera:acr:pwd"
ACR_MFA = "urn:tessera:acr:mfa"
ACR_VALUES = (ACR_PASSWORD, ACR_MFA)


def acr_for(amr: list[str]) -> str:
    """The class a sign-in with these RFC 8176 methods reaches: `mfa` means two kinds of factor."""
    return ACR_MFA if "mfa" in amr else ACR_PASSWORD
