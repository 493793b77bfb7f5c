"""Upstream identity providers, spoken to with Authlib's OAuth 2.0 client (requests).

Two kinds (idp.domain.providers): Discord (authorize, token, GET /users/@me) and any OpenID
Connect provider by its issuer (discovery, PKCE, an ID token validated with its nonce). Every
request has a timeout (TESSERA_UPSTREAM_TIMEOUT); every failure (the provider's error, a
timeout, a malformed answer, an ID token that does not validate) becomes ``UpstreamFailed``
with a sentence for the user, and nobody is signed in. The callers keep the flow state
(state, PKCE verifier, nonce) in the session and compare it here.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from idp.domain.providers import Provider
from idp.services.federation import UpstreamIdentity

ID_TOKEN_ALGS = ["RS256", "ES256", "PS256", "EdDSA"]
DISCOVERY_TTL = 3600  # seconds a provider's discovery document and keys are reused


class UpstreamFailed(Exception):
    """An upstream step failed; the message is for the user, `reason` for the log."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


@dataclass(frozen=True)
class Flow:
    """What the callback must find again: kept in the user's session between the redirects."""

    provider: str
    state: str
    verifier: str
    nonce: str

    def as_dict(self) -> dict[str, str]:
        return {"p": self.provider, "s": self.state, "v": self.verifier, "n": self.nonce}

    @classmethod
    def from_dict(cls, data: Any) -> Flow | None:
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "psvn"):
            return None
        return cls(data["p"], data["s"], data["v"], data["n"])


_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def _cached_json(session: OAuth2Session, url: str, *, refresh: bool = False) -> dict[str, Any]:
    with _cache_lock:
        hit = _cache.get(url)
    if hit is not None and not refresh and time.monotonic() - hit[0] < DISCOVERY_TTL:
        return hit[1]
    response = session.get(url, withhold_token=True)
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    with _cache_lock:
        _cache[url] = (time.monotonic(), data)
    return data


class UpstreamClient:
    def __init__(self, provider: Provider, redirect_uri: str, timeout: float) -> None:
        self.provider = provider
        self.redirect_uri = redirect_uri
        self.timeout = timeout

    def _session(self, **kwargs: Any) -> OAuth2Session:
        return OAuth2Session(
            self.provider.client_id,
            self.provider.client_secret,
            scope=" ".join(self.provider.scopes),
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            default_timeout=self.timeout,
            **kwargs,
        )

    def _metadata(self, session: OAuth2Session) -> dict[str, Any]:
        p = self.provider
        if p.kind == "discord":
            return {"authorization_endpoint": p.authorize_url, "token_endpoint": p.token_url}
        metadata = _cached_json(session, f"{p.issuer}/.well-known/openid-configuration")
        if metadata.get("issuer") != p.issuer:
            raise UpstreamFailed(_UNAVAILABLE, "discovery names another issuer")
        return metadata

    def start(self) -> tuple[str, Flow]:
        """The provider's authorization URL, and the flow state to keep for the callback."""
        flow = Flow(self.provider.name, secrets.token_urlsafe(24), secrets.token_urlsafe(48),
                    secrets.token_urlsafe(24))  # fmt: skip
        with _failures():
            session = self._session()
            endpoint = self._metadata(session)["authorization_endpoint"]
            extra = {"nonce": flow.nonce} if self.provider.kind == "oidc" else {}
            url, _ = session.create_authorization_url(
                endpoint, state=flow.state, code_verifier=flow.verifier, **extra
            )
        return url, flow

    def finish(self, flow: Flow, args: dict[str, str]) -> UpstreamIdentity:
        """The identity behind the callback's code; UpstreamFailed for anything else."""
        if args.get("error"):
            raise UpstreamFailed(
                f"{self.provider.label} did not sign you in"
                + (" (you cancelled)." if args.get("error") == "access_denied" else "."),
                f"provider error {args.get('error')!r}",
            )
        if not secrets.compare_digest(args.get("state") or "", flow.state):
            raise UpstreamFailed(_EXPIRED, "state mismatch")
        if not args.get("code"):
            raise UpstreamFailed(_EXPIRED, "no code in the callback")
        with _failures():
            session = self._session(state=flow.state)
            metadata = self._metadata(session)
            token = session.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=args["code"],
                code_verifier=flow.verifier,
            )
            if self.provider.kind == "discord":
                return self._discord_identity(session)
            return self._oidc_identity(session, metadata, token, flow.nonce)

    def _discord_identity(self, session: OAuth2Session) -> UpstreamIdentity:
        response = session.get(self.provider.userinfo_url)
        response.raise_for_status()
        me = response.json()
        if not isinstance(me, dict) or not isinstance(me.get("id"), str) or not me["id"]:
            raise UpstreamFailed(_UNAVAILABLE, "users/@me without an id")
        return UpstreamIdentity(
            provider=self.provider.name,
            subject=me["id"],
            username=str(me.get("username") or ""),
            email=str(me.get("email") or ""),
            email_verified=me.get("verified") is True,
        )

    def _oidc_identity(
        self, session: OAuth2Session, metadata: dict, token: dict, nonce: str
    ) -> UpstreamIdentity:
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamFailed(_INVALID, "no id_token in the token response")
        claims = self._validated_id_token(session, metadata, id_token)
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise UpstreamFailed(_INVALID, "ID token nonce mismatch")
        return UpstreamIdentity(
            provider=self.provider.name,
            subject=str(claims["sub"]),
            username=str(claims.get("preferred_username") or claims.get("name") or ""),
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True,
        )

    def _validated_id_token(self, session: OAuth2Session, metadata: dict, id_token: str) -> dict:
        """OIDC Core 3.1.3.7: signature by the issuer's keys, iss, aud, exp, iat."""
        try:
            header = jwt.get_unverified_header(id_token)
            key = self._signing_key(session, metadata["jwks_uri"], header.get("kid"))
            return jwt.decode(
                id_token,
                key,
                algorithms=[a for a in ID_TOKEN_ALGS if a == header.get("alg")],
                audience=self.provider.client_id,
                issuer=self.provider.issuer,
                leeway=60,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except (jwt.PyJWTError, KeyError) as exc:
            raise UpstreamFailed(_INVALID, f"ID token: {exc}") from None

    def _signing_key(self, session: OAuth2Session, jwks_uri: str, kid: str | None) -> Any:
        for refresh in (False, True):  # an unknown kid: the provider may have rotated its keys
            keys = jwt.PyJWKSet.from_dict(_cached_json(session, jwks_uri, refresh=refresh)).keys
            found = [k for k in keys if kid is None or k.key_id == kid]
            if found:
                return found[0].key
        raise UpstreamFailed(_INVALID, f"no key {kid!r} in the provider's JWKS")


_UNAVAILABLE = (
    "The provider could not be reached or answered something unexpected. Try again later."
)
_EXPIRED = "This sign-in attempt expired or was not started here. Start again."
_INVALID = "The provider's answer could not be verified, so you were not signed in."


class _failures:
    """Every way the upstream HTTP can fail, as UpstreamFailed (never a 500)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is None or isinstance(exc, UpstreamFailed):
            return False
        if isinstance(exc, requests.Timeout):
            raise UpstreamFailed(
                "The provider did not answer in time. Try again later.", "timeout"
            ) from None
        if isinstance(exc, AuthlibBaseError):
            raise UpstreamFailed(_UNAVAILABLE, f"token endpoint: {exc}") from None
        if isinstance(exc, requests.RequestException | ValueError | KeyError | TypeError):
            raise UpstreamFailed(_UNAVAILABLE, f"{type(exc).__name__}: {exc}") from None
        return False
