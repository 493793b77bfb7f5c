"""The edge rule for request text (idp.domain.request_text), without Flask or a database."""

from __future__ import annotations

import base64

import pytest

from idp.domain.request_text import (
    BadText,
    ascii_int,
    check_basic_credentials,
    check_json,
    check_pairs,
    check_text,
)


@pytest.mark.parametrize(
    "text", ["plain", "tab\tand\nlines\r\n", "caf\u00e9 \u00b2 \U0001f600", ""]
)
def test_valid_text_passes_unchanged(text):
    assert check_text(text) == text


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31m", "\x7f", "\x85", "\ud800", "x\udfff"])
def test_nul_controls_and_lone_surrogates_are_refused(text):
    with pytest.raises(BadText) as refused:
        check_text(text)
    assert text not in str(refused.value)  # the reason never quotes the input


def test_pairs_name_the_parameter_only_when_its_name_is_safe():
    with pytest.raises(BadText, match="'client_id'"):
        check_pairs({"client_id": "a\x00"}, "form")
    with pytest.raises(BadText) as refused:
        check_pairs([('na"me', "\x00")], "query")
    assert '"' not in str(refused.value)


def test_rfc8259_8_2_json_strings_and_keys_are_checked_at_any_depth():
    check_json({"a": ["ok", {"b": "fine"}], "n": 1})
    with pytest.raises(BadText):
        check_json({"a": [{"b": "\ud800"}]})
    with pytest.raises(BadText):
        check_json({"k\x00": 1})


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_rfc7617_2_basic_credentials_must_be_utf8_text():
    check_basic_credentials(_basic(b"client:s3cret"))
    check_basic_credentials(_basic("caf\u00e9:p\u00e4ss".encode()))
    check_basic_credentials("Bearer whatever")
    check_basic_credentials(None)
    check_basic_credentials("Basic !!!not-base64")  # left to the client authentication
    for bad in (_basic(b"\xff:x"), _basic(b"a%00:b"), _basic(b"a:%FF"), "Basic ", "Basic %D9%A3"):
        with pytest.raises(BadText):
            check_basic_credentials(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), ("\u00b2", None), ("\u0663", None), ("-1", None), ("", None),
     (" 1", None), ("1" * 19, None), (None, None)],
)  # fmt: skip
def test_ascii_int_reads_ascii_digits_only(text, expected):
    assert ascii_int(text) == expected
