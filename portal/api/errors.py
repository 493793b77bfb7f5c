"""Management API errors: `{"error": "<stable_code>", "message": "..."}` and the right status."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers, self.extra = headers or {}, extra


def api_error_response(exc: ApiError) -> Response:
    response = jsonify({"error": exc.code, "message": exc.message, **exc.extra})
    response.status_code = exc.status
    response.headers.update(exc.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, "server_error" if status >= 500 else "bad_request")
    messages = {
        413: "The request body is larger than this API accepts.",
        404: "There is nothing at this address.",
        405: "This address does not accept that method.",
    }
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    error = ApiError(status, code, messages.get(status, exc.description or code), headers=headers)
    return api_error_response(error)
