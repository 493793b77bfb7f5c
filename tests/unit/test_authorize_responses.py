"""Authlib's refusals at the authorization endpoint come out in Tessera's error model."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc6749.errors import InvalidScopeError, OAuth2Error

from idp import errors
from idp.web.authorize.responses import authlib_refusals


def test_an_authlib_refusal_becomes_ours_with_its_description():
    with pytest.raises(errors.InvalidScope) as excinfo, authlib_refusals():
        raise InvalidScopeError("market:write is not allowed for this app.")
    assert excinfo.value.error == "invalid_scope"
    assert excinfo.value.description == "market:write is not allowed for this app."


def test_a_code_we_have_no_class_for_keeps_its_name():
    odd = OAuth2Error("Try later.")
    odd.error = "slow_down"
    with pytest.raises(errors.OAuthError) as excinfo, authlib_refusals():
        raise odd
    assert (excinfo.value.error, excinfo.value.description) == ("slow_down", "Try later.")
