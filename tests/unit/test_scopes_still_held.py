"""Issue 12 item 3: refresh and code redemption issue only the scopes the app may hold now
(RFC 6749 6: a refreshed token never exceeds the grant; the app's policy may have narrowed since)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.domain.clients import scopes_still_held
from idp.errors import InvalidScope
from idp.services import token_issuance
from idp.services.token_issuance import GrantSource, RefreshLifetimes, TokenUser
from tests.unit.fakes_tokens import FakeMinter, client_policy

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIFETIMES = RefreshLifetimes(idle_ttl=3600, absolute_ttl=86400, reuse_grace=0)
GRANTED = "openid email orders:read offline_access"
SOURCE = GrantSource("g-1", 1, "fam-1", GRANTED, "", NOW, None)


def test_only_the_granted_scopes_the_app_still_holds_in_grant_order():
    held = scopes_still_held(GRANTED.split(), ["offline_access", "openid", "profile"])
    assert held == ("openid", "offline_access")


def test_a_withdrawn_restricted_scope_is_not_held():
    """An approved restricted scope is one the app's allowed scopes list; withdrawn, it is gone."""
    assert scopes_still_held(["orders:write", "openid"], ["openid"]) == ("openid",)


def _issue(allowed):
    return token_issuance.issue(
        FakeMinter(),
        LIFETIMES,
        client=client_policy("web", allowed_scopes=tuple(allowed)),
        scopes=tuple(GRANTED.split()),
        user=TokenUser(5, "sub-5"),
        source=SOURCE,
        default_audience="https://default.example",
        include_refresh=True,
        now=NOW,
    )


def test_issue_narrows_a_user_token_to_what_the_app_holds_and_says_so_in_scope():
    issued = _issue(["openid", "profile", "offline_access"])
    assert issued.body["scope"] == "openid offline_access"
    # The refresh token keeps the whole grant: the app may be given a scope back later.
    assert issued.refresh_token_row["scope"] == GRANTED


def test_issue_refuses_when_the_app_holds_none_of_the_granted_scopes():
    with pytest.raises(InvalidScope):
        _issue(["profile"])
