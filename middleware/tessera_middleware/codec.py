"""In-band WebSocket messages: how a session reads a sign-in and words its events.

A codec turns text frames into ``Message(route, payload, id)`` and back. Two are shipped:

* ``JsonCodec`` (the default): ``{"type": "auth", "token": ...}`` in, ``{"type": "auth_ok"}``,
  ``{"type": "revoked", "reason": ...}`` and ``{"type": "error", ...}`` out;
* ``WfmCodec``: the ``wfm`` subprotocol's envelope ``{"route": "@wfm|cmd/auth/signIn",
  "payload": {"token": ...}, "id": "..."}``; replies carry ``refId`` and the route plus
  ``:ok`` or ``:error``; ``@wfm|event/auth/revoked`` and ``@wfm|event/auth/expired`` are pushed.

Your own protocol: subclass ``Codec`` and implement its four documented methods.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from tessera_middleware.errors import InvalidRequest, MiddlewareError, RateLimited
from tessera_middleware.tokens import AccessToken
from tessera_middleware.verifier import DEFAULT_MAX_TOKEN_SIZE

# Room for the verifier's largest token (8 KiB by default) and the JSON around it.
AUTH_MESSAGE_OVERHEAD = 1024


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded frame: what it asks for, its data, and the id a reply refers to."""

    route: str
    payload: Any
    id: str | None = None


def load_json(raw: str | bytes, max_size: int, what: str) -> Any:
    """Size first, then JSON; every failure (bad UTF-8, nesting, size) is ``InvalidRequest``."""
    if len(raw) > max_size:
        raise InvalidRequest("the message is too large")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"messages are {what}") from exc


def error_fields(exc: MiddlewareError) -> dict[str, Any]:
    """The RFC 6750 words of an error, plus what a client needs to act on it."""
    fields: dict[str, Any] = {"error": exc.error, "message": exc.description}
    if isinstance(exc, RateLimited):
        fields["retry_after"] = exc.result.retry_after
    required = getattr(exc, "required", None)
    if required:
        fields["scope"] = " ".join(required)
    return fields


class Codec(ABC):
    """Base of the codecs; a session calls only these methods.

    ``max_size`` bounds every decoded frame (a sign-in needs the token plus 1 KiB).
    ``announce_close``: with ``on_invalid="close"``, send the revoked/expired event before
    the close frame (the close reason says it too).
    """

    name = "codec"
    announce_close = True

    def __init__(self, max_size: int = DEFAULT_MAX_TOKEN_SIZE + AUTH_MESSAGE_OVERHEAD) -> None:
        self.max_size = max_size

    @abstractmethod
    def decode(self, raw: str | bytes) -> Message:
        """One frame; anything malformed or over ``max_size`` raises ``InvalidRequest``."""
        raise NotImplementedError

    @abstractmethod
    def encode(self, route: str, payload: Any = None, *, ref: str | None = None) -> str:
        """A frame for ``route``; ``ref`` is the id of the message it answers."""
        raise NotImplementedError

    @abstractmethod
    def sign_in_token(self, message: Message) -> str | None:
        """The token if ``message`` is a sign-in, else None (a sign-in without one is refused)."""
        raise NotImplementedError

    @abstractmethod
    def event(self, kind: str, *, request: Message | None = None, **fields: Any) -> str:
        """``kind``: signed_in, sign_in_failed, revoked, expired or error; ``request`` is the
        command it answers, if any."""
        raise NotImplementedError

    def error(self, exc: MiddlewareError, message: Message | None = None) -> str:
        return self.event("error", request=message, **error_fields(exc))


class JsonCodec(Codec):
    """``{"type": ..., ...}`` objects; compatible with the messages of earlier versions.

    Expiry is announced as ``revoked`` too (with its reason) unless ``expired_type`` is set.
    """

    name = "json"

    def __init__(
        self,
        max_size: int = DEFAULT_MAX_TOKEN_SIZE + AUTH_MESSAGE_OVERHEAD,
        *,
        announce_close: bool = False,
        expired_type: str = "revoked",
    ) -> None:
        super().__init__(max_size)
        self.announce_close = announce_close
        self.expired_type = expired_type

    def decode(self, raw: str | bytes) -> Message:
        message = load_json(raw, self.max_size, 'JSON objects with a "type"')
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise InvalidRequest('messages are JSON objects with a "type"')
        ident = message.get("id")
        return Message(message["type"], message, ident if isinstance(ident, str) else None)

    def encode(self, route: str, payload: Any = None, *, ref: str | None = None) -> str:
        body = {"type": route, **(payload or {})}
        if ref is not None:
            body["id"] = ref
        return json.dumps(body)

    def sign_in_token(self, message: Message) -> str | None:
        if message.route != "auth":
            return None
        token = message.payload.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidRequest("the auth message has no token")
        return token

    def event(self, kind: str, *, request: Message | None = None, **fields: Any) -> str:
        ref = request.id if request is not None else None
        if kind == "signed_in":
            return self.encode("auth_ok", ref=ref)
        if kind == "expired":
            return self.encode(self.expired_type, fields)
        if kind == "revoked":
            return self.encode("revoked", fields)
        return self.encode("error", fields, ref=ref)  # error, sign_in_failed


WFM_PREFIX = "@wfm|"
WFM_SIGN_IN = "@wfm|cmd/auth/signIn"
WFM_REVOKED = "@wfm|event/auth/revoked"
WFM_EXPIRED = "@wfm|event/auth/expired"
WFM_ERROR = "@wfm|event/error"


class WfmCodec(Codec):
    """The ``wfm`` subprotocol: ``{"route": "@wfm|<route>", "payload": ..., "id", "refId"}``."""

    name = "wfm"
    subprotocol = "wfm"

    def decode(self, raw: str | bytes) -> Message:
        message = load_json(raw, self.max_size, 'JSON objects with a "@wfm|" route')
        route = message.get("route") if isinstance(message, dict) else None
        if not isinstance(route, str) or not route.startswith(WFM_PREFIX):
            raise InvalidRequest('messages are JSON objects with a "@wfm|" route')
        ident = message.get("id")
        return Message(route, message.get("payload"), ident if isinstance(ident, str) else None)

    def encode(self, route: str, payload: Any = None, *, ref: str | None = None) -> str:
        body: dict[str, Any] = {"route": route, "payload": {} if payload is None else payload}
        if ref is not None:
            body["refId"] = ref
        return json.dumps(body)

    def sign_in_token(self, message: Message) -> str | None:
        if message.route != WFM_SIGN_IN:
            return None
        token = message.payload.get("token") if isinstance(message.payload, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidRequest("signIn carries no token")
        return token

    def event(self, kind: str, *, request: Message | None = None, **fields: Any) -> str:
        ref = request.id if request is not None else None
        if kind == "revoked":
            return self.encode(WFM_REVOKED, fields)
        if kind == "expired":
            return self.encode(WFM_EXPIRED, fields)
        if kind == "signed_in":
            return self.encode(f"{WFM_SIGN_IN}:ok", fields, ref=ref)
        if kind == "sign_in_failed":
            return self.encode(f"{WFM_SIGN_IN}:error", fields, ref=ref)
        route = f"{request.route}:error" if request is not None else WFM_ERROR
        return self.encode(route, fields, ref=ref)


def signed_in_fields(token: AccessToken) -> dict[str, Any]:
    """What a sign-in reply tells the client: who it is and when to bring a fresh token."""
    return {"sub": token.subject, "client_id": token.client_id, "exp": token.expires_at}
