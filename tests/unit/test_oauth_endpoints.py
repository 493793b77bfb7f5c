"""idp.protocol.machine_endpoints without a server: form parsing, the Authlib request, transport rule."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl

import pytest
from authlib.oauth2.rfc6749 import OAuth2Request
from werkzeug.datastructures import EnvironHeaders

from idp.protocol.machine_endpoints import (
    MAX_FIELDS,
    BadForm,
    MachineOAuth2Request,
    parse_form,
    read_form,
    secure_transport,
)

BODIES = [
    "",
    "grant_type=client_credentials&scope=market%3Aread",
    "a=1&&b=2&",
    "flag&empty=&x==y=z",
    "plus=a+b&pct=a%20b&both=%2B+%2b",
    "bad=%zz&half=%4&trail=%",
    "latin=%FF%FE&utf8=%C3%A9t%C3%A9",
    "n%61me=v%61lue&caf%C3%A9=1",
    "semi=a;b=c",
]


@pytest.mark.parametrize("body", BODIES)
def test_parse_form_agrees_with_werkzeugs_parse_qsl(body):
    expected = parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote")
    assert parse_form(body.encode()) == expected


def test_parse_form_refuses_too_many_fields_and_non_utf8():
    with pytest.raises(BadForm, match="Too many"):
        parse_form("&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)).encode())
    with pytest.raises(BadForm, match="UTF-8"):
        parse_form(b"a=\xff\xfe")


def environ(body: bytes = b"", **extra: str) -> dict:
    env = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(body),
    }
    env.update(extra)
    return env


def test_read_form_checks_type_query_repeats_and_size():
    assert read_form(environ(b"a=1&b=%20"), 1024) == {"a": "1", "b": " "}
    charset = environ(b"a=1", CONTENT_TYPE="Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert read_form(charset, 1024) == {"a": "1"}
    cases = [
        (environ(b"{}", CONTENT_TYPE="application/json"), 400, "application/x-www-form"),
        (environ(b"a=1", QUERY_STRING="code=x"), 400, "not the URL"),
        (environ(b"scope=a&scope=b&x=1&x=2"), 400, "Repeated parameter: scope, x."),
        (environ(b"a=" + b"x" * 2000), 413, "too large"),
    ]
    for env, status, message in cases:
        with pytest.raises(BadForm, match=message) as caught:
            read_form(env, 1024)
        assert caught.value.status == status


def test_read_form_without_content_length_reads_a_terminated_stream_up_to_the_limit():
    chunked = environ(b"a=1", CONTENT_LENGTH="", **{"wsgi.input_terminated": True})
    assert read_form(chunked, 1024) == {"a": "1"}
    endless = environ(b"a=" + b"x" * 4096, CONTENT_LENGTH="", **{"wsgi.input_terminated": True})
    with pytest.raises(BadForm, match="too large"):
        read_form(endless, 1024)
    # No length and no terminated stream: Werkzeug reads nothing rather than block.
    assert read_form(environ(b"a=1", CONTENT_LENGTH=""), 1024) == {}


def test_machine_request_sets_every_attribute_authlibs_request_sets():
    """It skips OAuth2Request.__init__ (for its per-request transport check): keep in step."""
    authlib = OAuth2Request("POST", "https://idp.example/oauth/token")
    ours = MachineOAuth2Request(
        "https://idp.example/oauth/token", EnvironHeaders({}), {"grant_type": "x"}
    )
    assert set(vars(ours)) == set(vars(authlib))
    assert ours.payload.grant_type == "x" and ours.form == {"grant_type": "x"}
    assert not ours.args


def test_secure_transport_follows_authlibs_rule():
    assert secure_transport("https", "idp.example")
    assert secure_transport("http", "127.0.0.1:5000")
    assert secure_transport("http", "localhost")
    assert not secure_transport("http", "idp.example")
    assert not secure_transport("ftp", "idp.example")
