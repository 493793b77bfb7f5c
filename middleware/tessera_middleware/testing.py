"""Test helpers for APIs built on the middleware: sign tokens, fake a Tessera issuer.

``Signer`` makes RFC 9068 access tokens with a key of its own; ``FakeIdP`` serves discovery,
the JWKS and the revocation feed, either as a fetcher handed to ``TokenVerifier(http=...)`` or
behind a loopback HTTP server (``serve_fake_idp``). Only the stdlib, PyJWT and cryptography.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tessera_middleware.http import HttpResponse

ISSUER = "https://id.tessera.test"
AUDIENCE = "https://api.tessera.test"
FEED = ISSUER + "/revocations"


def make_key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def _to_jwk(public: Any) -> str:
    if isinstance(public, rsa.RSAPublicKey):
        return jwt.algorithms.RSAAlgorithm.to_jwk(public)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return jwt.algorithms.ECAlgorithm.to_jwk(public)
    return jwt.algorithms.OKPAlgorithm.to_jwk(public)


class Signer:
    """One IdP signing key: makes RFC 9068 tokens and its public JWK."""

    def __init__(self, alg: str, kid: str | None = None) -> None:
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        self.key = make_key(alg)

    def jwk(self) -> dict[str, Any]:
        return {**json.loads(_to_jwk(self.key.public_key())), "kid": self.kid, "use": "sig"}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "user-1",
            "aud": AUDIENCE,
            "client_id": "app-1",
            "scope": "orders:read orders:write",
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "jti": uuid.uuid4().hex,
            "gid": "grant-1",
            "tier": {"name": "default", "rps": 3, "burst": 10},
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, headers: Mapping[str, Any] | None = None, **claims: Any) -> str:
        hdr = {"typ": "at+jwt", "kid": self.kid, **(headers or {})}
        return jwt.encode(self.claims(**claims), self.key, algorithm=self.alg, headers=hdr)


class FakeIdP:
    """Serves discovery, JWKS and the revocation feed; usable as an injected fetcher."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.signers: list[Signer] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.feed_responses: list[tuple[int, Any]] = []
        self.fail = False
        # More discovery fields, e.g. tessera_revocation_stream_key (None: the field is left out).
        self.metadata: dict[str, Any] = {}

    def add(self, signer: Signer) -> Signer:
        self.signers.append(signer)
        return signer

    def count(self, path: str) -> int:
        return sum(1 for url, _ in self.requests if path in url)

    def route(self, url: str, headers: Mapping[str, str]) -> tuple[int, Any]:
        self.requests.append((url, dict(headers)))
        if self.fail:
            raise OSError("connection refused")
        path = url.split(self.issuer, 1)[-1]
        if path == "/.well-known/openid-configuration":
            doc = {
                "issuer": self.issuer,
                "jwks_uri": self.issuer + "/jwks",
                "revocation_feed_endpoint": self.issuer + "/revocations",
                **self.metadata,
            }
            return 200, {k: v for k, v in doc.items() if v is not None}
        if path == "/jwks":
            return 200, {"keys": [s.jwk() for s in self.signers]}
        if path.startswith("/revocations") and self.feed_responses:
            return self.feed_responses.pop(0)
        return 404, {"error": "not_found"}

    def __call__(self, url: str, headers: Mapping[str, str]) -> HttpResponse:
        status, body = self.route(url, headers)
        return HttpResponse(status, json.dumps(body).encode())


@contextlib.contextmanager
def serve_fake_idp() -> Iterator[tuple[str, FakeIdP]]:
    """A ``FakeIdP`` behind a real HTTP server on a loopback port: (issuer URL, fake)."""
    holder: dict[str, FakeIdP] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake = holder["idp"]
            status, body = fake.route(fake.issuer + self.path, dict(self.headers))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["idp"] = FakeIdP(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["idp"].issuer, holder["idp"]
    finally:
        server.shutdown()
        server.server_close()
