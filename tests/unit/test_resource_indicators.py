"""idp.domain.resources: RFC 8707 2 and 2.2 over plain values."""

from __future__ import annotations

import pytest

from idp.domain.resources import token_audience
from idp.errors import InvalidTarget

DEFAULT, WS = "https://id.example/api", "https://ws.example"
KNOWN = frozenset({DEFAULT, WS})


def test_rfc8707_no_resource_means_the_grant_audience_or_the_default():
    assert token_audience(None, known=KNOWN, covered=None, default=DEFAULT) == DEFAULT
    assert token_audience(None, known=KNOWN, covered=WS, default=DEFAULT) == WS
    assert token_audience(None, known=KNOWN, covered="", default=DEFAULT) == DEFAULT


def test_rfc8707_2_the_app_acting_for_itself_may_name_any_known_resource():
    assert token_audience(WS, known=KNOWN, covered=None, default=DEFAULT) == WS


@pytest.mark.parametrize("resource", ["https://evil.example/", "", WS + "/"])
def test_rfc8707_2_an_unknown_resource_is_invalid_target(resource):
    with pytest.raises(InvalidTarget) as refused:
        token_audience(resource, known=KNOWN, covered=None, default=DEFAULT)
    assert resource not in refused.value.description or not resource


def test_rfc8707_2_2_a_grant_cannot_be_stretched_to_another_resource():
    with pytest.raises(InvalidTarget):
        token_audience(WS, known=KNOWN, covered=DEFAULT, default=DEFAULT)
    with pytest.raises(InvalidTarget):
        token_audience(WS, known=KNOWN, covered="", default=DEFAULT)  # device codes: the default
    assert token_audience(WS, known=KNOWN, covered=WS, default=DEFAULT) == WS
