"""TokenMinter.sign writes compact JWS that PyJWT verifies, for every algorithm we offer."""

from __future__ import annotations

import jwt
import pytest

from idp.domain.scopes import ScopeCatalogue
from idp.services.tokens import TokenMinter
from idp.storage.keystore import ActiveKey, _generate


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_sign_makes_a_jws_pyjwt_verifies(alg):
    private = _generate(alg)
    key = ActiveKey(kid=f"kid-{alg}", alg=alg, private_key=private)
    minter = TokenMinter(
        issuer="https://idp.example",
        keys=None,
        catalogue=ScopeCatalogue(scopes={}, tiers={}, default_tier="free"),
        access_alg=alg,
        access_ttl=600,
        id_token_ttl=600,
    )
    claims = {"sub": "user-1", "scope": "market:read", "tier": {"name": "free", "rps": 5}}
    for typ in ("at+jwt", None):
        token = minter.sign(claims, key, typ=typ)
        header = jwt.get_unverified_header(token)
        assert header == {"alg": alg, "kid": key.kid, "typ": typ or "JWT"}
        assert jwt.decode(token, private.public_key(), algorithms=[alg]) == claims
