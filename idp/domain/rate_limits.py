"""The one rule for an app's rate limit: its tier, unless an admin set a custom figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class HasCustomLimits(Protocol):
    custom_rps: float | None
    custom_burst: int | None


class TierLimits(Protocol):
    name: str
    rps: float
    burst: int


@dataclass(frozen=True)
class EffectiveLimits:
    tier: str
    rps: float
    burst: int
    custom: bool  # an admin's figure replaced the tier's rps or burst

    def as_claim(self) -> dict[str, object]:
        """The access token's `tier` claim that resource servers enforce."""
        return {"name": self.tier, "rps": self.rps, "burst": self.burst}


def effective_limits(app: HasCustomLimits, tier: TierLimits) -> EffectiveLimits:
    rps = app.custom_rps if app.custom_rps is not None else tier.rps
    burst = app.custom_burst if app.custom_burst is not None else tier.burst
    custom = app.custom_rps is not None or app.custom_burst is not None
    return EffectiveLimits(tier=tier.name, rps=rps, burst=burst, custom=custom)
