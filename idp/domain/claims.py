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
