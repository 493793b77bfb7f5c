"""idp.domain.grants: the one list of grant types that app types, discovery and grants read."""

from __future__ import annotations

from idp.domain.clients import APP_TYPES
from idp.domain.grants import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    GRANTS,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
    grant_types_for,
    supported_grant_types,
)


def test_app_types_take_their_grants_from_the_registry_first_grant_first():
    assert APP_TYPES["web"].grant_types == (AUTHORIZATION_CODE, REFRESH_TOKEN)
    assert APP_TYPES["spa"].grant_types == (AUTHORIZATION_CODE, REFRESH_TOKEN)
    assert APP_TYPES["native"].grant_types == (AUTHORIZATION_CODE, REFRESH_TOKEN)
    assert APP_TYPES["service"].grant_types == (CLIENT_CREDENTIALS,)
    assert APP_TYPES["device"].grant_types == (DEVICE_CODE, REFRESH_TOKEN)
    assert grant_types_for("unknown") == ()
    # Token exchange is never registered with an app: an admin allows it per first-party app.
    assert all(TOKEN_EXCHANGE not in t.grant_types for t in APP_TYPES.values())


def test_rfc8414_2_discovery_lists_the_device_grant_only_when_the_flow_is_on():
    assert supported_grant_types(device_flow=False) == [
        AUTHORIZATION_CODE,
        REFRESH_TOKEN,
        CLIENT_CREDENTIALS,
        TOKEN_EXCHANGE,
    ]
    assert DEVICE_CODE in supported_grant_types(device_flow=True)
    assert "password" not in GRANTS and "implicit" not in GRANTS


def test_rfc6749_2_3_1_grants_for_apps_acting_for_themselves_need_a_secret():
    assert GRANTS[CLIENT_CREDENTIALS].token_endpoint_auth_methods == [
        "client_secret_basic",
        "client_secret_post",
    ]
    for public in (AUTHORIZATION_CODE, REFRESH_TOKEN, DEVICE_CODE):
        assert "none" in GRANTS[public].token_endpoint_auth_methods
    for grant in GRANTS.values():
        if grant.needs_secret:
            assert all(APP_TYPES[t].confidential for t in grant.app_types)
