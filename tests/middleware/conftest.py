"""A guard over a fake issuer for the example resource servers' tests (tessera_middleware.testing)."""

from __future__ import annotations

from typing import Any

import pytest
from tessera_middleware import RevocationState, TokenVerifier
from tessera_middleware.guard import ResourceGuard
from tessera_middleware.ratelimit import TierRateLimiter
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def es256(idp: FakeIdP) -> Signer:
    return idp.add(Signer("ES256"))


@pytest.fixture
def guard(idp: FakeIdP) -> Any:
    revocations = RevocationState(max_staleness=60)
    revocations.mark_synced()
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, revocations=revocations)
    return ResourceGuard(verifier, rate_limiter=TierRateLimiter("memory://"), realm="orders-api")
