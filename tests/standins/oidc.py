"""A stand-in OpenID provider: discovery, JWKS, authorize, token with RS256 ID tokens.

Approves at once as `user` (no UI). Knobs set by a test to make the ID token fail validation:
`id_token_tamper` one of None, "signature" (signed by a key not in the JWKS), "nonce",
"audience", "expired", "issuer".
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, redirect, request

from tests.standins.server import ThreadedServer

CLIENT_ID = "standin-oidc-client"
CLIENT_SECRET = "standin-oidc-secret-0123456789"


class StandInOpenIDProvider(ThreadedServer):
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.user: dict[str, Any] = {
            "sub": "oidc-user-1",
            "preferred_username": "olga",
            "email": "olga@example.com",
            "email_verified": True,
        }
        self.id_token_tamper: str | None = None
        self._codes: dict[str, dict[str, Any]] = {}
        super().__init__(self._app())

    @property
    def issuer(self) -> str:
        return self.url

    def catalogue_entry(self) -> dict[str, Any]:
        return {
            "kind": "oidc",
            "label": "Stand-in OpenID",
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret_env": "TESSERA_STANDIN_OIDC_SECRET",
        }

    def _id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {**grant["user"], "iss": self.issuer, "aud": CLIENT_ID, "iat": now,
                  "exp": now + 300, "nonce": grant["nonce"]}  # fmt: skip
        key = self.key
        tamper = self.id_token_tamper
        if tamper == "signature":
            key = self.other_key
        elif tamper == "nonce":
            claims["nonce"] = "not-the-nonce"
        elif tamper == "audience":
            claims["aud"] = "someone-else"
        elif tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif tamper == "issuer":
            claims["iss"] = "https://impostor.example"
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "standin-1"})

    def _app(self) -> Flask:
        app = Flask("standin-oidc")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.url}/authorize",
                token_endpoint=f"{self.url}/token",
                jwks_uri=f"{self.url}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        def jwks():
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return jsonify(keys=[{**jwk, "kid": "standin-1", "use": "sig", "alg": "RS256"}])

        @app.get("/authorize")
        def authorize():
            args = request.args
            if args.get("client_id") != CLIENT_ID or "openid" not in args.get("scope", "").split():
                return "bad request", 400
            code = secrets.token_urlsafe(16)
            self._codes[code] = {"redirect_uri": args["redirect_uri"], "nonce": args.get("nonce"),
                                 "challenge": args.get("code_challenge"), "user": dict(self.user)}  # fmt: skip
            query = urlencode({"code": code, "state": args.get("state", "")})
            return redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return jsonify(error="invalid_client"), 401
            grant = self._codes.pop(request.form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            verifier = request.form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if grant["challenge"] != digest.rstrip(b"=").decode():
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer",
                           expires_in=300, id_token=self._id_token(grant))  # fmt: skip

        return app
