"""RFC 9068 access-token verification with a JWKS cache and a verified-token LRU."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import jwt

from tessera_middleware.errors import InvalidToken
from tessera_middleware.http import Fetcher, UrllibFetcher
from tessera_middleware.jwks import SUPPORTED_ALGORITHMS, KeySet
from tessera_middleware.tokens import DEFAULT_TIER, AccessToken, Actor, Tier

DEFAULT_ALGORITHMS = ("ES256", "RS256", "EdDSA")
# Tessera's access tokens are under 1 KiB; 8 KiB leaves room for big scope lists and stays far
# below what an attacker needs to make parsing costly. Checked before anything is decoded.
DEFAULT_MAX_TOKEN_SIZE = 8192
_MIN_TOKEN_SIZE = 1024
# One leeway for exp, nbf and iat, over HTTP and WebSocket alike (RFC 7519 4.1.4 allows "some
# small leeway"): clock skew between the IdP and this host, not a grace period for tokens.
DEFAULT_LEEWAY = 5.0
MAX_LEEWAY = 60.0
# A compact JWS is three base64url segments (RFC 7515 7.1); base64 decoding alone would skip
# stray characters instead of refusing them. ~1.4 us, paid only on a cache miss. An empty
# signature passes here so that alg=none is refused by name.
_COMPACT_JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
# Every way a hostile segment can fail to decode: bad base64, bad UTF-8, bad or too deeply
# nested JSON (RecursionError), numbers too large for a float.
_DECODE_ERRORS = (ValueError, binascii.Error, RecursionError, OverflowError, TypeError)
_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
# A chain of actors (RFC 8693 4.1, nested ``act``) deeper than this is refused, not walked.
MAX_ACTOR_DEPTH = 8


class RevocationCheck(Protocol):
    def revoked_reason(self, token: AccessToken) -> str | None: ...


def _now() -> float:
    # Looked up on every call so freezegun (which patches time.time) is honoured.
    return time.time()


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the {name} claim is missing or not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):  # NaN would compare false with everything: never expire
        raise InvalidToken(f"the {name} claim is not a finite number")
    return number


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(segment))
    except _DECODE_ERRORS as exc:
        raise InvalidToken("the token is malformed") from exc
    if not isinstance(value, dict):
        raise InvalidToken("the token is malformed")
    return value


def _parse_actor(raw: Any, depth: int = 0) -> Actor:
    """The ``act`` claim (RFC 8693 4.1): an object naming the actor by ``sub`` and/or
    ``client_id``, with the prior actor nested; anything else makes the token invalid, since a
    route that refuses delegated tokens must never take a malformed one for the user's own."""
    if not isinstance(raw, dict) or depth >= MAX_ACTOR_DEPTH:
        raise InvalidToken("the token's act claim is malformed")
    sub, client_id = raw.get("sub"), raw.get("client_id")
    if not (isinstance(sub, str | None) and isinstance(client_id, str | None)) or not (
        sub or client_id
    ):
        raise InvalidToken("the token's act claim is malformed")
    prior = _parse_actor(raw["act"], depth + 1) if "act" in raw else None
    return Actor(sub, client_id, prior)


def _parse_tier(raw: Any, default: Tier) -> Tier:
    if not isinstance(raw, dict):
        return default
    try:
        rps, burst = float(raw["rps"]), int(raw["burst"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return default
    if not math.isfinite(rps) or rps <= 0 or burst <= 0:
        return default
    return Tier(str(raw.get("name", default.name)), rps, burst)


class TokenVerifier:
    """Verifies bearer access tokens issued by one Tessera issuer for one audience."""

    def __init__(
        self,
        issuer: str,
        audience: str | Iterable[str],
        *,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: float = DEFAULT_LEEWAY,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        jwks_refetch_interval: float = 60.0,
        jwks_max_age: float = 3600.0,
        jwks_uri: str | None = None,
        revocations: RevocationCheck | None = None,
        cache_size: int = 10_000,
        clock: Callable[[], float] = _now,
        http: Fetcher | None = None,
        default_tier: Tier = DEFAULT_TIER,
    ) -> None:
        self.algorithms = frozenset(algorithms)
        unsupported = self.algorithms - SUPPORTED_ALGORITHMS
        if unsupported:
            # "none" and HS* are refused here, not merely left out of a default.
            raise ValueError(f"unsupported or unsafe algorithms: {sorted(unsupported)}")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY:g} seconds")
        if max_token_size < _MIN_TOKEN_SIZE:
            raise ValueError(f"max_token_size must be at least {_MIN_TOKEN_SIZE} bytes")
        self.max_token_size = max_token_size
        self.issuer = issuer
        self.audiences = frozenset([audience] if isinstance(audience, str) else audience)
        self.leeway = leeway
        self.revocations = revocations
        self.cache_size = cache_size
        self.default_tier = default_tier
        self._clock = clock
        self.http = http or UrllibFetcher()
        self.keys = KeySet(
            issuer,
            self.http,
            jwks_uri=jwks_uri,
            refetch_interval=jwks_refetch_interval,
            max_age=jwks_max_age,
            clock=clock,
        )
        self._algos = {name: jwt.get_algorithm_by_name(name) for name in self.algorithms}
        self._cache: OrderedDict[bytes, tuple[AccessToken, str]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, *, block: bool = True) -> AccessToken:
        """Return the verified token or raise ``InvalidToken`` (revocation included).

        ``block=False`` (async adapters) raises ``KeysNotReady`` where keys must be fetched.
        """
        if len(token) > self.max_token_size:
            raise InvalidToken("the token is too large")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidToken("the token is malformed") from None
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None and now < hit[0].expires_at + self.leeway and hit[1] in self.keys:
            access = hit[0]
            try:  # noqa: SIM105 - contextlib.suppress costs ~0.3 us on the hot path
                self._cache.move_to_end(digest)
            except KeyError:  # evicted by another thread in between; harmless
                pass
        else:
            if hit is not None:
                self._cache.pop(digest, None)
            access, kid = self._verify_uncached(token, now, block)
            self._remember(digest, access, kid)
        if self.revocations is not None:
            reason = self.revocations.revoked_reason(access)
            if reason is not None:
                raise InvalidToken(reason)
        return access

    def _remember(self, digest: bytes, access: AccessToken, kid: str) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            self._cache[digest] = (access, kid)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def is_expired(self, token: AccessToken, now: float) -> bool:
        """The one expiry rule, leeway included, for HTTP requests and WebSocket sessions."""
        return now >= token.expires_at + self.leeway

    def _verify_uncached(self, token: str, now: float, block: bool) -> tuple[AccessToken, str]:
        segments = _COMPACT_JWS.fullmatch(token)
        if segments is None:
            raise InvalidToken("the token is malformed")
        header_b64, payload_b64, signature_b64 = segments.groups()
        alg, kid = self._check_header(_json_object(header_b64))
        signing_key = self.keys.get(kid, block=block)
        if signing_key is None:
            raise InvalidToken("the token is signed with an unknown key")
        if alg != signing_key.alg:
            # The key decides the algorithm (RFC 8725 3.1); the header only has to agree.
            raise InvalidToken("the token's algorithm does not match its key")
        try:
            signature = _b64(signature_b64)
            valid = self._algos[alg].verify(
                f"{header_b64}.{payload_b64}".encode(), signing_key.key, signature
            )
        except _DECODE_ERRORS as exc:
            raise InvalidToken("the token signature is invalid") from exc
        if not valid:
            raise InvalidToken("the token signature is invalid")
        return self._check_claims(_json_object(payload_b64), now), kid

    def _check_header(self, header: Mapping[str, Any]) -> tuple[str, str]:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("the token's signing algorithm is not accepted")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYPES:
            raise InvalidToken("the token is not an access token (typ must be at+jwt)")
        if "crit" in header:
            # RFC 7515 4.1.11: we understand no extensions, so any critical one is fatal.
            raise InvalidToken("the token uses unsupported critical header parameters")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token has no key id")
        return alg, kid

    def _check_claims(self, claims: dict[str, Any], now: float) -> AccessToken:
        for name in _REQUIRED:
            if name not in claims:
                raise InvalidToken(f"the token has no {name} claim")
        if claims["iss"] != self.issuer:
            raise InvalidToken("the token was issued by another issuer")
        aud = claims["aud"]
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not self.audiences.intersection(a for a in auds if isinstance(a, str)):
            raise InvalidToken("the token is not meant for this API (audience)")
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if now >= exp + self.leeway:  # as is_expired, spelled out before the token exists
            raise InvalidToken("the token has expired")
        if iat > now + self.leeway:
            raise InvalidToken("the token was issued in the future")
        if "nbf" in claims and _number(claims, "nbf") > now + self.leeway:
            raise InvalidToken("the token is not valid yet")
        sub, client_id, jti = claims["sub"], claims["client_id"], claims["jti"]
        scope, gid = claims.get("scope", ""), claims.get("gid")
        if not all(isinstance(v, str) for v in (sub, client_id, jti, scope)) or not (
            gid is None or isinstance(gid, str)
        ):
            raise InvalidToken("the token has a claim of the wrong type")
        return AccessToken(
            subject=sub,
            client_id=client_id,
            scopes=frozenset(scope.split()),
            grant_id=gid,
            tier=_parse_tier(claims.get("tier"), self.default_tier),
            expires_at=exp,
            jti=jti,
            issued_at=iat,
            claims=claims,
            actor=_parse_actor(claims["act"]) if "act" in claims else None,
        )
