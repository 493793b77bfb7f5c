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
class Actor:
    """Who acts for the token's subject: the ``act`` claim of RFC 8693 (token exchange).

    ``subject`` is the actor's ``sub`` (for Tessera, the acting app's client id) and
    ``client_id`` its ``client_id`` when the claim has one; ``prior`` is the actor that acted
    before it (a nested ``act``), None for a single hop. RFC 8693 4.1: only the outermost
    actor is the current one; prior actors are information, never access control.
    """

    subject: str | None
    client_id: str | None
    prior: Actor | None = None

    @property
    def id(self) -> str:
        """The acting app's client id if named, else its ``sub``."""
        return self.client_id or self.subject or ""


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
    # RFC 8693 ``act``: someone (e.g. a first-party bot) acting for the subject; None when the
    # subject's own app holds the token.
    actor: Actor | None = None

    @property
    def is_delegated(self) -> bool:
        return self.actor is not None

    @property
    def is_machine(self) -> bool:
        """True for client_credentials tokens: the app acts for itself, no user behind it."""
        return self.grant_id is None and self.subject == self.client_id

    def has_scopes(self, *scopes: str) -> bool:
        return self.scopes.issuperset(scopes)
