"""Discovery and the IdP's signing keys, refetched on rotation without a restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from tessera_middleware.errors import ServiceUnavailable
from tessera_middleware.http import Fetcher

log = logging.getLogger(__name__)

DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")

# Which public key classes may verify which algorithm: a key never crosses families, so
# an RSA key can never be abused as an HMAC secret or an EC key for another curve.
_KEY_FITS: dict[str, Callable[[Any], bool]] = {
    "ES256": lambda k: (
        isinstance(k, ec.EllipticCurvePublicKey) and isinstance(k.curve, ec.SECP256R1)
    ),
    "ES384": lambda k: (
        isinstance(k, ec.EllipticCurvePublicKey) and isinstance(k.curve, ec.SECP384R1)
    ),
    "RS256": lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size >= 2048,
    "RS384": lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size >= 2048,
    "PS256": lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size >= 2048,
    "EdDSA": lambda k: isinstance(k, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey),
}
SUPPORTED_ALGORITHMS = frozenset(_KEY_FITS)

# The algorithm a JWK without "alg" is for, from its type and curve (RFC 7518 6, RFC 8037 2).
# An RSA key could serve RS*/PS*; Tessera signs RS256 with RSA, so any other use must be pinned
# with the JWK's own "alg".
_IMPLIED_ALG = {
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("RSA", None): "RS256",
    ("OKP", "Ed25519"): "EdDSA",
    ("OKP", "Ed448"): "EdDSA",
}


def key_fits(alg: str, key: Any) -> bool:
    check = _KEY_FITS.get(alg)
    return check is not None and check(key)


def key_algorithm(entry: dict[str, Any], key: Any) -> str | None:
    """The one algorithm this key verifies: the JWK's ``alg``, else implied by kty and crv.

    None when the two disagree or the key is unfit (e.g. RSA under 2048 bits): such a key is
    never trusted, so a token's header can never pick the algorithm (RFC 8725 3.1).
    """
    alg = entry.get("alg")
    if alg is None:
        crv = entry.get("crv") if entry.get("kty") != "RSA" else None
        alg = _IMPLIED_ALG.get((entry.get("kty"), crv))
    return alg if isinstance(alg, str) and key_fits(alg, key) else None


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: Any  # a cryptography public key object
    alg: str  # the only algorithm this key verifies, fixed when the JWKS is read


@dataclass(frozen=True, slots=True)
class Metadata:
    issuer: str
    jwks_uri: str
    revocation_feed_endpoint: str | None


def fetch_metadata(issuer: str, fetch: Fetcher) -> Metadata:
    """Read discovery (OIDC first, RFC 8414 second) and insist it names our issuer."""
    base = issuer.rstrip("/")
    for path in DISCOVERY_PATHS:
        try:
            resp = fetch(base + path, {})
        except (OSError, ValueError) as exc:
            log.warning("discovery %s failed: %s", path, exc)
            continue
        if resp.status != 200:
            continue
        doc = resp.json()
        if not isinstance(doc, dict):
            raise ServiceUnavailable("identity provider metadata is malformed")
        if doc.get("issuer") != issuer:
            # OIDC Discovery 4.3: a mismatch means someone else's metadata; never trust it.
            raise ServiceUnavailable("identity provider metadata names another issuer")
        jwks_uri, feed = doc.get("jwks_uri"), doc.get("revocation_feed_endpoint")
        if not isinstance(jwks_uri, str) or not isinstance(feed, str | None):
            raise ServiceUnavailable("identity provider metadata is malformed")
        return Metadata(issuer, jwks_uri, feed)
    raise ServiceUnavailable("identity provider metadata is unavailable")


def parse_jwks(doc: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    entries = doc.get("keys") if isinstance(doc, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if (
            not isinstance(kid, str)
            or not kid
            or entry.get("use", "sig") != "sig"
            or entry.get("kty") == "oct"
        ):
            # Symmetric keys in a public JWKS would be an IdP bug; skip rather than trust.
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.warning("skipping JWKS key %r: %s", kid, exc)
            continue
        alg = key_algorithm(entry, jwk.key)
        if alg is None:
            log.warning("skipping JWKS key %r: its alg does not fit its type", kid)
            continue
        keys[kid] = SigningKey(kid, jwk.key, alg)
    return keys


class KeySet:
    """Cached JWKS; an unknown kid refetches at most once per ``refetch_interval``."""

    def __init__(
        self,
        issuer: str,
        fetch: Fetcher,
        *,
        jwks_uri: str | None = None,
        refetch_interval: float = 60.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self._fetch = fetch
        self._jwks_uri = jwks_uri
        self.metadata: Metadata | None = None
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def __contains__(self, kid: str) -> bool:
        # Lets cached tokens die with their key when the IdP withdraws it from the JWKS.
        return kid in self._keys

    def get(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        now = self._clock()
        fetched = self._fetched_at
        if key is not None and fetched is not None and now - fetched < self.max_age:
            return key
        # Unknown kid, or keys so old a removed (compromised) key might still be trusted.
        if fetched is None or now - fetched >= self.refetch_interval:
            self._refresh(now)
        return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        # Single flight: concurrent misses wait for one fetch instead of each fetching.
        with self._lock:
            if self._fetched_at is not None and now - self._fetched_at < self.refetch_interval:
                return
            self._fetched_at = now
            try:
                self.fetch_count += 1
                resp = self._fetch(self._resolve_jwks_uri(), {})
                if resp.status != 200:
                    raise ValueError(f"JWKS answered HTTP {resp.status}")
                self._keys = parse_jwks(resp.json())
            except (OSError, ValueError, KeyError, ServiceUnavailable) as exc:
                # Keep the old keys: an IdP blip must not turn every request into a 401.
                log.warning("JWKS fetch failed, keeping %d cached keys: %s", len(self._keys), exc)
                if not self._keys:
                    # With nothing cached, retry soon rather than after a full interval.
                    self._fetched_at = now - self.refetch_interval + min(5.0, self.refetch_interval)
                    raise ServiceUnavailable("signing keys are unavailable") from exc

    def _resolve_jwks_uri(self) -> str:
        if self._jwks_uri is None:
            self.metadata = fetch_metadata(self.issuer, self._fetch)
            self._jwks_uri = self.metadata.jwks_uri
        return self._jwks_uri
