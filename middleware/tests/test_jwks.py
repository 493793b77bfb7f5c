"""Key discovery, rotation and kid floods (docs/security.md#25)."""

from __future__ import annotations

import uuid

import pytest
from freezegun import freeze_time
from tessera_middleware import InvalidToken, ServiceUnavailable, TokenVerifier
from tessera_middleware.http import UrllibFetcher
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer


def test_checklist_25_discovery_and_jwks_over_real_http(http_idp) -> None:
    issuer, idp = http_idp
    signer = idp.add(Signer("RS256"))
    verifier = TokenVerifier(issuer, AUDIENCE, http=UrllibFetcher(timeout=2))
    assert verifier.verify(signer.token(iss=issuer)).subject == "user-1"
    assert idp.count("/.well-known/openid-configuration") == 1 and idp.count("/jwks") == 1


def test_checklist_25_rotation_picked_up_without_restart(http_idp) -> None:
    issuer, idp = http_idp
    old = idp.add(Signer("ES256"))
    verifier = TokenVerifier(issuer, AUDIENCE, http=UrllibFetcher(timeout=2))
    with freeze_time("2030-01-01 12:00:00") as frozen:
        assert verifier.verify(old.token(iss=issuer)).jti
        new = idp.add(Signer("EdDSA"))  # the IdP rotates in a new key
        idp.signers.remove(old)
        frozen.tick(61)
        assert verifier.verify(new.token(iss=issuer)).jti
        assert idp.count("/jwks") == 2
        # The withdrawn key no longer verifies, even for tokens seen before.
        with pytest.raises(InvalidToken, match="unknown key"):
            verifier.verify(old.token(iss=issuer))


def test_checklist_25_random_kid_flood_refetches_once(es256: Signer, idp: FakeIdP) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, jwks_refetch_interval=60)
    with freeze_time("2030-01-01 12:00:00") as frozen:
        verifier.verify(es256.token())
        assert idp.count("/jwks") == 1
        frozen.tick(61)  # the cached keys are now old enough that a miss may refetch
        for _ in range(300):
            forged = Signer("ES256", kid=uuid.uuid4().hex).token()
            with pytest.raises(InvalidToken, match="unknown key"):
                verifier.verify(forged)
        assert idp.count("/jwks") == 2  # one refetch for the whole flood
        frozen.tick(61)
        with pytest.raises(InvalidToken):
            verifier.verify(Signer("ES256", kid="yet-another").token())
        assert idp.count("/jwks") == 3


def test_checklist_25_idp_outage_keeps_cached_keys(es256: Signer, idp: FakeIdP) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, cache_size=0)
    with freeze_time("2030-01-01 12:00:00") as frozen:
        verifier.verify(es256.token())
        idp.fail = True
        frozen.tick(3601)  # keys are past max age: a refetch is tried and fails
        assert verifier.verify(es256.token()).jti


def test_checklist_25_symmetric_jwk_never_loaded(idp: FakeIdP) -> None:
    from tessera_middleware.jwks import parse_jwks

    keys = parse_jwks({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]})
    assert keys == {}


def test_plain_http_refused_off_loopback() -> None:
    with pytest.raises(ValueError, match="refusing"):
        UrllibFetcher()("http://idp.example.com/.well-known/openid-configuration", {})


@pytest.mark.parametrize(
    "discovery",
    [["not", "an", "object"], {"issuer": ISSUER}, {"issuer": ISSUER, "jwks_uri": 7}],
    ids=["list", "no-jwks-uri", "jwks-uri-not-a-string"],
)
def test_issue12_malformed_discovery_is_503_not_a_crash(
    es256: Signer, idp: FakeIdP, discovery: object
) -> None:
    original = idp.route
    idp.route = lambda url, headers: (  # type: ignore[method-assign]
        (200, discovery) if "well-known" in url else original(url, headers)
    )
    with pytest.raises(ServiceUnavailable):
        TokenVerifier(ISSUER, AUDIENCE, http=idp).verify(es256.token())


@pytest.mark.parametrize(
    "jwks", [["x"], {"keys": "x"}, {"keys": [1, None, {"kid": ["k"]}, {"kid": "k", "kty": 3}]}]
)
def test_issue12_malformed_jwks_trusts_no_key(es256: Signer, idp: FakeIdP, jwks: object) -> None:
    from tessera_middleware.jwks import parse_jwks

    assert parse_jwks(jwks) == {}
    original = idp.route
    idp.route = lambda url, headers: (  # type: ignore[method-assign]
        (200, jwks) if url.endswith("/jwks") else original(url, headers)
    )
    with pytest.raises((InvalidToken, ServiceUnavailable)):
        TokenVerifier(ISSUER, AUDIENCE, http=idp).verify(es256.token())
