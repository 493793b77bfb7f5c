"""Signing keys: generated on first start, kept in the database encrypted, cached per process.

A key set without a kid makes JOSE libraries pick a key at random; every token here names
its kid, and exactly one key per algorithm signs at a time.

A rotated-in key is "next" first: published at once, signing only from its `activates_at`, so
every resource server's cached JWKS has it before the first token it signs (no blind window).
Every worker sees a new key within `refresh_seconds` (its reload interval); the switch itself
is decided per call from the clock, so all workers and instances start signing with it at the
same instant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.models import SigningKey
from idp.storage.outage import OUTAGES, is_outage

THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


class KeyStoreError(RuntimeError):
    pass


KEY_RELOAD_SECONDS = 30.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    private_key: Any  # a cryptography private key object, parsed once


# (activates_at, retired_at, key): whether it signs is decided per call, from the clock.
_Signer = tuple[datetime | None, datetime | None, ActiveKey]


def _generate(alg: str) -> Any:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise KeyStoreError(f"unsupported signing algorithm {alg}")


def public_jwk(private_key: Any, alg: str) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    members = {k: jwk[k] for k in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = (
        base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    )  # RFC 7638
    return {**members, "kid": kid, "alg": alg, "use": "sig"}


def fernet_from(secret: str, purpose: str = "signing-keys") -> Fernet:
    """A Fernet key derived for one purpose, so one secret never serves two uses directly."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=f"tessera-{purpose}".encode(), info=b"fernet"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class KeyStore:
    """Reads keys from the database at most every `refresh_seconds` per process."""

    def __init__(
        self,
        encryption_secret: str,
        max_token_ttl: int,
        algorithms: set[str],
        refresh_seconds: float = KEY_RELOAD_SECONDS,
        publication_delay: float = 0.0,
    ) -> None:
        self._fernet = fernet_from(encryption_secret)
        self._algorithms = set(algorithms)
        self._max_token_ttl = max_token_ttl
        self._refresh_seconds = refresh_seconds
        self._publication_delay = publication_delay
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        # Per algorithm, (activates_at, key), newest first: next keys included.
        self._signers: dict[str, list[_Signer]] = {}
        self._jwks: list[dict[str, Any]] = []
        self._public: dict[str, Any] = {}
        self._algs: dict[str, str] = {}

    @property
    def algorithms(self) -> frozenset[str]:
        """What this instance signs with (the operator's `keys rotate --alg` choices)."""
        return frozenset(self._algorithms)

    # --- writing -----------------------------------------------------------------------

    def create_key(
        self, alg: str, session: Session | None = None, activates_at: datetime | None = None
    ) -> SigningKey:
        private_key = _generate(alg)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        jwk = public_jwk(private_key, alg)
        row = SigningKey(
            kid=jwk["kid"],
            alg=alg,
            private_key_encrypted=self._fernet.encrypt(pem).decode(),
            public_jwk=jwk,
            activates_at=activates_at,
        )
        (session or db.session).add(row)
        return row

    def ensure_keys(self) -> bool:
        """Create a signing key for each algorithm that has none (first start of the app).

        Two workers starting at once may both create one; both are published and the newest
        signs, so that race is harmless.
        """
        with Session(db.engine) as session:
            active = {
                k.alg
                for k in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None)))
            }
            missing = sorted(self._algorithms - active)
            for alg in missing:
                self.create_key(alg, session)
            session.commit()
        return bool(missing)

    def rotate(
        self, algs: set[str] | None = None, now: datetime | None = None, immediate: bool = False
    ) -> list[SigningKey]:
        """New keys, published now and signing after the publication delay (`immediate`: now).

        The keys they replace (a pending next key included) sign until then and stay published
        until every token they signed expired.
        """
        algs = algs or self._algorithms
        now = now or utcnow()
        activates = now if immediate else now + timedelta(seconds=self._publication_delay)
        # A key already due to retire later (or a pending next key: `--now` during a delay)
        # must not outlive the new one, or it would sign again once its own time came.
        for old in db.session.scalars(
            select(SigningKey).where(
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > activates),
                SigningKey.alg.in_(algs),
            )
        ):
            old.retired_at = activates
            old.unpublish_at = activates + timedelta(seconds=self._max_token_ttl + 300)
        new = [self.create_key(alg, activates_at=activates) for alg in sorted(algs)]
        db.session.commit()
        self.invalidate()
        return new

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    # --- reading -----------------------------------------------------------------------

    def _load(self) -> None:
        now = utcnow()
        # A session of its own: a reload that fails (an outage) leaves the request's untouched.
        with Session(db.engine) as session:
            rows = list(
                session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.id))
            )
        signers: dict[str, list[_Signer]] = {}
        jwks = []
        for row in rows:
            if row.unpublish_at is None or row.unpublish_at > now:
                jwks.append(row.public_jwk)
            if row.retired_at is None or row.retired_at > now:
                key = ActiveKey(row.kid, row.alg, self._private_key(row))
                signers.setdefault(row.alg, []).append((row.activates_at, row.retired_at, key))
        for candidates in signers.values():
            # Newest activation first; a key without one signs from its creation, which precedes
            # any rotation. Newest created first among equals (sort() is stable).
            candidates.reverse()
            candidates.sort(key=lambda c: c[0] or _EPOCH, reverse=True)
        public = {jwk["kid"]: _PUBLIC_LOADERS[jwk["kty"]](json.dumps(jwk)) for jwk in jwks}
        algs = {jwk["kid"]: jwk["alg"] for jwk in jwks}
        self._signers, self._jwks, self._public, self._algs = signers, jwks, public, algs

    def _private_key(self, row: SigningKey) -> Any:
        try:
            pem = self._fernet.decrypt(row.private_key_encrypted.encode())
        except InvalidToken:
            raise KeyStoreError(
                f"signing key {row.kid} cannot be decrypted: TESSERA_KEY_ENCRYPTION_KEY "
                "(or TESSERA_SECRET_KEY, from which it defaults) changed"
            ) from None
        return serialization.load_pem_private_key(pem, None)

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at < self._refresh_seconds:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at >= self._refresh_seconds:
                try:
                    self._load()
                except SQLAlchemyError as exc:
                    if not self._signers or not is_outage(exc):
                        raise
                    # The database is out of reach: the keys loaded last keep signing and stay
                    # published (activations are decided from the clock); retried next reload.
                    OUTAGES.record("signing keys (kept in memory)", exc)
                self._loaded_at = time.monotonic()

    def signing_key(self, alg: str) -> ActiveKey:
        self._fresh()
        now = utcnow()
        for activates_at, retired_at, key in self._signers.get(alg, ()):
            if (activates_at is None or activates_at <= now) and (
                retired_at is None or retired_at > now
            ):
                return key
        raise KeyStoreError(f"no active {alg} signing key; run `tessera keys rotate --now`")

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        self._fresh()
        return {"keys": list(self._jwks)}

    def public_key_for(self, kid: str) -> Any:
        """The public key object for a kid we published, for verifying our own tokens."""
        self._fresh()
        return self._public.get(kid)

    def verification_key(self, kid: str) -> tuple[Any, str] | None:
        """(public key, the one algorithm it verifies) for a kid we published, else None.

        The algorithm is the key's, never a token header's (RFC 8725 3.1): PyJWT given an EC
        key and RS256 raises TypeError instead of refusing the token.
        """
        self._fresh()
        key, alg = self._public.get(kid), self._algs.get(kid)
        return None if key is None or alg is None else (key, alg)


_PUBLIC_LOADERS = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}
