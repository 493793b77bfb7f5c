"""Discovery and the IdP's signing keys, refetched on rotation without a restart."""

from __future__ import annotations

import logging
import math
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
    # Tessera's pushed revocations (docs/revocation-events.md): the SSE endpoint, and the Redis
    # stream's key when Tessera writes one. Absent from older Tessera and other issuers.
    revocation_events_endpoint: str | None = None
    revocation_stream_key: str | None = None


def _optional_str(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None or (isinstance(value, str) and value):
        return value
    # An optional extension: a bad value costs the push channel its discovery, not the keys.
    log.warning("ignoring malformed %s in the issuer's metadata", name)
    return None


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
        return Metadata(
            issuer,
            jwks_uri,
            feed,
            _optional_str(doc, "tessera_revocation_events_endpoint"),
            _optional_str(doc, "tessera_revocation_stream_key"),
        )
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


class KeysNotReady(Exception):
    """Raised by ``KeySet.get(kid, block=False)`` when answering needs a fetch first.

    Async adapters catch it, run the fetch in a thread and ask again, so the event loop never
    waits on the network.
    """

    def __init__(self, kid: str) -> None:
        super().__init__(kid)
        self.kid = kid


class KeySet:
    """Cached JWKS: single flight, unknown kids refetched at most once per ``refetch_interval``.

    While keys cannot be fetched (and a token's kid is not among those cached) ``get`` raises
    ``ServiceUnavailable``, never returns None: the token may well be valid, so a 401 would be
    a lie. None means the issuer answered and does not publish that key.
    """

    def __init__(
        self,
        issuer: str,
        fetch: Fetcher,
        *,
        jwks_uri: str | None = None,
        refetch_interval: float = 60.0,
        max_age: float = 3600.0,
        clock: Callable[[], float] = time.time,
        retry_interval: float = 5.0,
        wait_timeout: float = 15.0,
    ) -> None:
        self.issuer = issuer
        self._fetch = fetch
        self._jwks_uri = jwks_uri
        self.metadata: Metadata | None = None
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        # After a failed fetch, try again sooner than after a good one.
        self.retry_interval = min(retry_interval, refetch_interval)
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None  # last fetch that succeeded
        self._attempted_at: float | None = None  # last fetch, whatever its outcome
        self._failure: str | None = None  # why the last fetch failed; None if it did not
        self._in_flight = False
        self._generation = 0  # fetches completed, so a waiter knows one finished for it
        self._lock = threading.Lock()
        self.fetch_count = 0

    def __contains__(self, kid: str) -> bool:
        # Lets cached tokens die with their key when the IdP withdraws it from the JWKS.
        return kid in self._keys

    def get(self, kid: str, *, block: bool = True) -> SigningKey | None:
        """The key for ``kid``; None when the issuer does not publish it (a 401).

        ``block=False`` raises ``KeysNotReady`` instead of fetching.
        """
        key = self._keys.get(kid)
        now = self._clock()
        fetched = self._fetched_at
        if key is not None and fetched is not None and now - fetched < self.max_age:
            return key
        # Unknown kid, or keys so old a removed (compromised) key might still be trusted.
        if self._due(now):
            if not block:
                raise KeysNotReady(kid)
            self.refresh()
        key = self._keys.get(kid)
        if key is None and self._failure is not None:
            raise ServiceUnavailable("the issuer is unreachable", retry_after=self._retry_after())
        return key

    def _due(self, now: float) -> bool:
        if self._in_flight or self._attempted_at is None:
            return True  # a fetch is under way (wait for it), or none was ever tried
        interval = self.retry_interval if self._failure is not None else self.refetch_interval
        return now - self._attempted_at >= interval

    def _retry_after(self) -> int:
        since = self._clock() - (self._attempted_at or 0.0)
        return max(1, math.ceil(self.retry_interval - since))

    def refresh(self) -> None:
        """Fetch the JWKS if due. Single flight: concurrent callers wait for the one fetch."""
        generation = self._generation
        if not self._lock.acquire(timeout=self.wait_timeout):
            raise ServiceUnavailable("the issuer is unreachable", retry_after=self._retry_after())
        try:
            if self._generation != generation or not self._due(self._clock()):
                return  # a fetch completed while this caller waited: its outcome stands
            self._in_flight = True
            self._attempted_at = self._clock()
            try:
                self.fetch_count += 1
                resp = self._fetch(self._resolve_jwks_uri(), {})
                if resp.status != 200:
                    raise ValueError(f"JWKS answered HTTP {resp.status}")
                self._keys = parse_jwks(resp.json())
                self._fetched_at, self._failure = self._attempted_at, None
            except (OSError, ValueError, KeyError, ServiceUnavailable) as exc:
                # Keep the old keys: an IdP blip must not turn every request into a 401.
                self._failure = str(exc)
                log.warning("JWKS fetch failed, keeping %d cached keys: %s", len(self._keys), exc)
            finally:
                self._in_flight = False
                self._generation += 1
        finally:
            self._lock.release()

    def _resolve_jwks_uri(self) -> str:
        if self._jwks_uri is None:
            self.metadata = fetch_metadata(self.issuer, self._fetch)
            self._jwks_uri = self.metadata.jwks_uri
        return self._jwks_uri
