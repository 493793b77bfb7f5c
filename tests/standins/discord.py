"""A stand-in Discord for the tests: Discord's OAuth2 endpoint shapes and error format.

Discord cannot be reached from the test machines. This small Flask app answers as Discord
does (https://discord.com/developers/docs/topics/oauth2):
- GET  /oauth2/authorize      approves at once as `user` (no UI), or answers error=access_denied
- POST /api/oauth2/token      client_secret_basic or _post, code + redirect_uri + PKCE checked;
                              refusals as {"error": ..., "error_description": ...} with 400/401
- GET  /api/users/@me         the user object (id, username, global_name, email, verified);
                              refusals as Discord's API errors {"message": "401: Unauthorized", "code": 0}
Knobs set by a test: `user`, `deny`, `token_delay` (seconds, for the timeout case), `token_error`,
`me_down`, `interactive` (the browser tests: an "Authorize" page as Discord shows, instead of approving at once).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from markupsafe import escape

from tests.standins.server import ThreadedServer

CLIENT_ID = "standin-discord-client"
CLIENT_SECRET = "standin-discord-secret-0123456789"


class StandInDiscord(ThreadedServer):
    def __init__(self) -> None:
        self.user: dict[str, Any] = {
            "id": "80351110224678912",
            "username": "nelly",
            "global_name": "Nelly",
            "email": "nelly@example.com",
            "verified": True,
        }
        self.deny = False
        self.token_delay = 0.0
        self.token_error: str | None = None
        self.interactive = False
        self.me_down = False  # /users/@me answers 502, as Discord's API does in an outage
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self.token_requests = 0
        super().__init__(self._app())

    def catalogue_entry(self) -> dict[str, Any]:
        """The providers.yaml entry pointing Tessera here."""
        return {
            "kind": "discord",
            "label": "Discord",
            "client_id": CLIENT_ID,
            "client_secret_env": "TESSERA_DISCORD_CLIENT_SECRET",
            "authorize_url": f"{self.url}/oauth2/authorize",
            "token_url": f"{self.url}/api/oauth2/token",
            "userinfo_url": f"{self.url}/api/users/@me",
        }

    def _app(self) -> Flask:
        app = Flask("standin-discord")

        @app.route("/oauth2/authorize", methods=["GET", "POST"])
        def authorize():
            args = request.args
            if self.interactive and request.method == "GET":
                return _consent_page(self.user["username"], request.full_path)
            if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
                return jsonify(message="Invalid OAuth2 application", code=50035), 400
            target = args["redirect_uri"]
            if self.deny:
                query = {"error": "access_denied", "error_description": "The resource owner or "
                         "authorization server denied the request", "state": args.get("state", "")}  # fmt: skip
                return redirect(f"{target}?{urlencode(query)}")
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                "redirect_uri": target,
                "challenge": args.get("code_challenge"),
                "user": dict(self.user),
            }
            return redirect(f"{target}?{urlencode({'code': code, 'state': args.get('state', '')})}")

        @app.post("/api/oauth2/token")
        def token():
            self.token_requests += 1
            if self.token_delay:
                time.sleep(self.token_delay)
            if self.token_error:
                return jsonify(error=self.token_error, error_description="Stand-in refusal"), 400
            client_id, secret = _client_credentials()
            if client_id != CLIENT_ID or secret != CLIENT_SECRET:
                return jsonify(error="invalid_client"), 401
            form = request.form
            grant = self._codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return jsonify(error="invalid_grant",
                               error_description='Invalid "code" in request.'), 400  # fmt: skip
            if grant["challenge"] and _s256(form.get("code_verifier", "")) != grant["challenge"]:
                return jsonify(error="invalid_grant",
                               error_description='Invalid "code_verifier"'), 400  # fmt: skip
            access = secrets.token_urlsafe(16)
            self._tokens[access] = grant["user"]
            return jsonify(access_token=access, token_type="Bearer", expires_in=604800,
                           refresh_token=secrets.token_urlsafe(16), scope="identify email")  # fmt: skip

        @app.get("/api/users/@me")
        def me():
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if self.me_down:
                return jsonify(message="502 Bad Gateway", code=0), 502
            user = self._tokens.get(value) if scheme == "Bearer" else None
            if user is None:
                return jsonify(message="401: Unauthorized", code=0), 401
            return jsonify(user)

        return app


def _consent_page(username: str, action: str) -> str:
    return (
        "<!doctype html><title>Discord (stand-in)</title>"
        "<main style='font-family:sans-serif;max-width:30em;margin:3em auto'>"
        "<h1>Discord (stand-in)</h1>"
        f"<p>Signed in to Discord as <strong>{escape(username)}</strong>.</p>"
        "<p>Tessera wants to access your account: your username, avatar and e-mail.</p>"
        f"<form method='post' action='{escape(action)}'>"
        "<button type='submit'>Authorize</button></form></main>"
    )


def _client_credentials() -> tuple[str, str]:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username or "", auth.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
