"""The verified access token handed to application code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Tier:
    """An app's rate-limit tier: ``rps`` sustained requests per second, ``burst`` at once."""

    name: str = "default"
    rps: float = 3.0
    burst: int = 10


DEFAULT_TIER = Tier()


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An RFC 9068 access token whose signature and claims have been checked."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    grant_id: str | None
    tier: Tier
    expires_at: float
    jti: str
    issued_at: float
    claims: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def is_machine(self) -> bool:
        """True for client_credentials tokens: the app acts for itself, no user behind it."""
        return self.grant_id is None and self.subject == self.client_id

    def has_scopes(self, *scopes: str) -> bool:
        return self.scopes.issuperset(scopes)
