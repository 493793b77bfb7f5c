"""Token verification: docs/security.md#23."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from freezegun import freeze_time
from tessera_middleware import AccessToken, InvalidToken, ServiceUnavailable, Tier, TokenVerifier
from tessera_middleware.testing import AUDIENCE, ISSUER, FakeIdP, Signer


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    def enc(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join(
        [enc(json.dumps(header).encode()), enc(json.dumps(claims).encode()), enc(signature)]
    )


def test_valid_token_yields_typed_access_token(signer: Signer, verifier: TokenVerifier) -> None:
    token = verifier.verify(signer.token(scope="orders:read chat:read"))
    assert isinstance(token, AccessToken)
    assert token.subject == "user-1" and token.client_id == "app-1"
    assert token.scopes == frozenset({"orders:read", "chat:read"})
    assert token.grant_id == "grant-1"
    assert token.tier == Tier("default", 3.0, 10)
    assert token.claims["iss"] == ISSUER
    with pytest.raises(AttributeError):
        token.subject = "someone-else"  # type: ignore[misc]


def test_client_credentials_token_is_machine(es256: Signer, verifier: TokenVerifier) -> None:
    token = verifier.verify(es256.token(sub="app-1", gid=None, tier=None))
    assert token.is_machine and token.grant_id is None
    assert token.tier == verifier.default_tier


def test_audience_list_accepted(es256: Signer, verifier: TokenVerifier) -> None:
    assert verifier.verify(es256.token(aud=["other", AUDIENCE])).client_id == "app-1"


def test_checklist_23_alg_none_rejected(es256: Signer, verifier: TokenVerifier) -> None:
    token = _forge({"alg": "none", "typ": "at+jwt", "kid": es256.kid}, es256.claims())
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(token)


def test_checklist_23_none_and_hmac_cannot_be_allowed() -> None:
    for algs in (["none"], ["HS256"], ["ES256", "HS512"]):
        with pytest.raises(ValueError, match="unsafe"):
            TokenVerifier(ISSUER, AUDIENCE, algorithms=algs)


def test_checklist_23_hs256_with_public_key_bytes_rejected(
    signer: Signer, verifier: TokenVerifier
) -> None:
    pem = signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "at+jwt", "kid": signer.kid}
    unsigned = _forge(header, signer.claims()).rsplit(".", 1)[0]
    mac = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
    token = unsigned + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="algorithm"):
        verifier.verify(token)


def test_checklist_23_alg_must_fit_key_type(idp: FakeIdP, verifier: TokenVerifier) -> None:
    rsa_signer = idp.add(Signer("RS256"))
    ec_signer = Signer("ES256", kid=rsa_signer.kid)  # same kid, other family
    with pytest.raises(InvalidToken, match="does not match its key"):
        verifier.verify(ec_signer.token())


@pytest.mark.parametrize("typ", ["JWT", "jwt", None, "id+jwt"])
def test_checklist_23_wrong_typ_rejected(es256: Signer, verifier: TokenVerifier, typ) -> None:
    headers = {"typ": typ} if typ else {"typ": None}
    token = es256.token(headers=headers)
    with pytest.raises(InvalidToken, match="typ"):
        verifier.verify(token)


@pytest.mark.parametrize("typ", ["AT+JWT", "application/at+jwt", "Application/At+JWT"])
def test_checklist_23_typ_case_insensitive(es256: Signer, verifier: TokenVerifier, typ) -> None:
    assert verifier.verify(es256.token(headers={"typ": typ})).jti


def test_checklist_23_wrong_issuer_rejected(es256: Signer, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="issuer"):
        verifier.verify(es256.token(iss="https://evil.test"))


@pytest.mark.parametrize("aud", ["https://other.test", ["a", "b"], 7])
def test_checklist_23_wrong_audience_rejected(es256: Signer, verifier: TokenVerifier, aud) -> None:
    with pytest.raises(InvalidToken, match="audience"):
        verifier.verify(es256.token(aud=aud))


def test_checklist_23_tampered_payload_rejected(signer: Signer, verifier: TokenVerifier) -> None:
    header, _payload, sig = signer.token().split(".")
    forged = base64.urlsafe_b64encode(json.dumps(signer.claims(sub="admin")).encode())
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(f"{header}.{forged.rstrip(b'=').decode()}.{sig}")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c.d", "!!!.???.***"])
def test_checklist_23_malformed_rejected(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(garbage)


def test_checklist_23_expired_rejected_after_leeway(es256: Signer, verifier: TokenVerifier) -> None:
    assert verifier.leeway == 5  # issue 12.13: a few seconds, for HTTP and WebSocket alike
    with freeze_time("2030-01-01 12:00:00") as frozen:
        token = es256.token()  # exp = now + 600
        assert verifier.verify(token).subject == "user-1"
        frozen.tick(600 + 4)
        assert verifier.verify(token).subject == "user-1"  # within the 5 s leeway
        frozen.tick(1)
        with pytest.raises(InvalidToken, match="expired"):
            verifier.verify(token)


def test_checklist_23_nbf_in_future_rejected(es256: Signer, verifier: TokenVerifier) -> None:
    with freeze_time("2030-01-01 12:00:00"):
        now = int(time.time())
        with pytest.raises(InvalidToken, match="not valid yet"):
            verifier.verify(es256.token(nbf=now + 120))
        assert verifier.verify(es256.token(nbf=now + 4)).jti  # leeway
        with pytest.raises(InvalidToken, match="not valid yet"):
            verifier.verify(es256.token(nbf=now + 6))


def test_checklist_23_iat_in_future_rejected(es256: Signer, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="future"):
        verifier.verify(es256.token(iat=int(time.time()) + 3600))


@pytest.mark.parametrize("claim", ["sub", "client_id", "jti", "exp", "iat", "aud", "iss"])
def test_checklist_23_required_claim_missing(es256: Signer, verifier: TokenVerifier, claim) -> None:
    claims = es256.claims()
    del claims[claim]
    token = jwt.encode(claims, es256.key, "ES256", headers={"typ": "at+jwt", "kid": es256.kid})
    with pytest.raises(InvalidToken, match=claim if claim not in ("aud", "iss") else "claim"):
        verifier.verify(token)


def test_checklist_23_crit_header_rejected(es256: Signer, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="critical"):
        verifier.verify(es256.token(headers={"crit": ["exp"]}))


def test_checklist_23_embedded_jwk_header_ignored(idp: FakeIdP, verifier: TokenVerifier) -> None:
    idp.add(Signer("ES256", kid="real"))
    attacker = Signer("ES256", kid="real")
    token = attacker.token(headers={"jwk": attacker.jwk()})
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(token)


def test_cached_hit_skips_signature_but_not_revocation(
    es256: Signer, idp: FakeIdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Revoked:
        jtis: set[str] = set()

        def revoked_reason(self, token: AccessToken) -> str | None:
            return "revoked" if token.jti in self.jtis else None

    revocations = Revoked()
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, revocations=revocations)
    token = es256.token()
    first = verifier.verify(token)
    calls = []
    original = verifier._verify_uncached
    monkeypatch.setattr(verifier, "_verify_uncached", lambda *a: calls.append(a) or original(*a))
    assert verifier.verify(token) is first and calls == []
    revocations.jtis.add(first.jti)
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(token)


def test_cache_is_bounded_lru(es256: Signer, idp: FakeIdP) -> None:
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp, cache_size=3)
    tokens = [es256.token() for _ in range(5)]
    for t in tokens:
        verifier.verify(t)
    assert len(verifier._cache) == 3
    assert all(tokens[0] not in str(k) for k in verifier._cache)  # keys are digests


def test_cached_entry_dropped_at_expiry(es256: Signer, verifier: TokenVerifier) -> None:
    with freeze_time("2030-01-01 12:00:00") as frozen:
        token = es256.token(exp=int(time.time()) + 5)
        verifier.verify(token)
        frozen.tick(36)
        with pytest.raises(InvalidToken, match="expired"):
            verifier.verify(token)
        assert len(verifier._cache) == 0


def test_keys_unavailable_is_503_not_401(idp: FakeIdP, es256: Signer) -> None:
    idp.fail = True
    verifier = TokenVerifier(ISSUER, AUDIENCE, http=idp)
    with pytest.raises(ServiceUnavailable):
        verifier.verify(es256.token())


def test_discovery_naming_another_issuer_refused(es256: Signer) -> None:
    evil = FakeIdP(issuer=ISSUER)
    evil.add(es256)
    original = evil.route

    def route(url, headers):
        status, body = original(url, headers)
        if "well-known" in url:
            body = {**body, "issuer": "https://evil.test"}
        return status, body

    evil.route = route  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        TokenVerifier(ISSUER, AUDIENCE, http=evil).verify(es256.token())
