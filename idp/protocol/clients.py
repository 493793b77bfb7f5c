"""Authlib's view of an app, over an immutable ClientPolicy snapshot from the process cache."""

from __future__ import annotations

import time
from collections.abc import Callable

from authlib.oauth2.rfc6749 import ClientMixin

from idp.domain.clients import ClientPolicy, redirect_uri_matches
from idp.domain.credentials import matching_digest


class OAuthClient(ClientMixin):
    def __init__(
        self, policy: ClientPolicy, reload: Callable[[], ClientPolicy | None] | None = None
    ) -> None:
        self.policy = policy
        self.client_id = policy.client_id
        self._reload = reload  # set when the policy came from the process cache
        self.matched_digest: str | None = None  # which secret authenticated, for its last use

    def get_client_id(self) -> str:
        return self.policy.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 6749 3.1.2.3 permits a default only when exactly one URI is registered; OpenID
        # requests without redirect_uri are refused earlier (docs/security.md#11).
        uris = self.policy.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_matches(redirect_uri, self.policy.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        self.matched_digest = _live_match(self.policy, client_secret)
        if self.matched_digest is not None:
            return True
        if self._reload is None:
            return False
        # The cached policy may predate a rotation made in another worker: ask the database once.
        fresh, self._reload = self._reload(), None
        if fresh is None:
            return False
        self.policy = fresh
        self.matched_digest = _live_match(fresh, client_secret)
        return self.matched_digest is not None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A suspended app is refused after authentication (client_auth.SUSPENDED), not here,
        # where it would look like a wrong secret.
        if self.policy.confidential:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.policy.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.policy.grant_types


def _live_match(policy: ClientPolicy, client_secret: str) -> str | None:
    now = time.time()
    live = [d for d, expires in policy.secret_digests if expires is None or expires > now]
    return matching_digest(client_secret, live) if live else None
