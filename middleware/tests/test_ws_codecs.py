"""The in-band message codecs: JSON (compatible with earlier messages) and wfm."""

from __future__ import annotations

import json

import pytest
from tessera_middleware import InsufficientScope, InvalidRequest
from tessera_middleware.codec import JsonCodec, Message, WfmCodec


def test_json_codec_reads_the_auth_message_and_keeps_the_old_events() -> None:
    codec = JsonCodec()
    message = codec.decode('{"type": "auth", "token": "t.o.k"}')
    assert codec.sign_in_token(message) == "t.o.k"
    assert codec.sign_in_token(codec.decode('{"type": "ping"}')) is None
    assert json.loads(codec.event("signed_in", request=message, exp=1)) == {"type": "auth_ok"}
    assert json.loads(codec.event("revoked", reason="r")) == {"type": "revoked", "reason": "r"}
    assert json.loads(codec.event("expired", reason="e")) == {"type": "revoked", "reason": "e"}
    assert not codec.announce_close  # closes as before: no event ahead of the close frame
    error = json.loads(codec.error(InsufficientScope("needs it", ("orders:write",))))
    assert error == {
        "type": "error",
        "error": "insufficient_scope",
        "message": "needs it",
        "scope": "orders:write",
    }


def test_wfm_codec_speaks_the_envelope_with_ids_and_pushed_events() -> None:
    codec = WfmCodec()
    raw = json.dumps({"route": "@wfm|cmd/auth/signIn", "payload": {"token": "t"}, "id": "7"})
    message = codec.decode(raw)
    assert message == Message("@wfm|cmd/auth/signIn", {"token": "t"}, "7")
    assert codec.sign_in_token(message) == "t"
    assert json.loads(codec.event("signed_in", request=message, sub="u")) == {
        "route": "@wfm|cmd/auth/signIn:ok",
        "payload": {"sub": "u"},
        "refId": "7",
    }
    assert json.loads(codec.event("revoked", reason="r"))["route"] == "@wfm|event/auth/revoked"
    assert json.loads(codec.event("expired", reason="e"))["route"] == "@wfm|event/auth/expired"
    command = codec.decode('{"route": "@wfm|cmd/orders/list", "payload": null, "id": "8"}')
    failed = json.loads(codec.error(InvalidRequest("no"), command))
    assert failed["route"] == "@wfm|cmd/orders/list:error" and failed["refId"] == "8"
    assert failed["payload"] == {"error": "invalid_request", "message": "no"}
    assert codec.announce_close


@pytest.mark.parametrize(
    "raw",
    [
        '{"route": "cmd/auth/signIn", "payload": {}}',  # no @wfm| prefix
        '{"payload": {}}',
        "[1, 2]",
        b"\xff\xfe",
        '{"route": "@wfm|x", "payload": ' + "[" * 5000 + "]" * 5000 + "}",
        "x" * 20_000,
    ],
)
def test_wfm_codec_refuses_malformed_frames_as_invalid_request(raw: str | bytes) -> None:
    with pytest.raises(InvalidRequest):
        WfmCodec().decode(raw)


@pytest.mark.parametrize("payload", [{}, {"token": ""}, {"token": 5}, "token", None])
def test_a_sign_in_without_a_token_is_refused(payload: object) -> None:
    codec = WfmCodec()
    with pytest.raises(InvalidRequest):
        codec.sign_in_token(Message("@wfm|cmd/auth/signIn", payload))
    token = payload.get("token") if isinstance(payload, dict) else payload
    if not isinstance(token, str) or not token:
        with pytest.raises(InvalidRequest):
            JsonCodec().sign_in_token(Message("auth", {"type": "auth", "token": token}))
