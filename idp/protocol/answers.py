"""What the authorization server answers: (status, body, headers), with no web framework.

The machine endpoints write it to WSGI as it is; Flask views turn it into a Response with
``to_flask``. ``location`` lets Authlib's RFC 9207 extension add ``iss`` to redirects.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from flask import Response

from idp.errors import safe_description

Headers = list[tuple[str, str]]


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: Headers

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers[:] = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))


def answer(status: int, payload: Any, headers: Any) -> Answer:
    if isinstance(payload, dict):
        payload = json.dumps(payload, separators=(",", ":"))
    body = payload.encode() if isinstance(payload, str) else payload
    return Answer(status, body, list(headers))


def error_answer(error: str, description: str, status: int) -> Answer:
    body = json.dumps({"error": error, "error_description": safe_description(description)})
    return Answer(status, body.encode(), [("Content-Type", "application/json")])


def to_flask(result: Answer) -> Response:
    return Response(result.body, status=result.status, headers=result.headers)
