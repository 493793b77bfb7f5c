"""Management API errors: `{"error": "<stable_code>", "message": "..."}` and the right status."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from idp.errors import FieldErrors

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


# FieldErrors whose field means a state rather than a typo, with the API's code and message.
_STATE_ERRORS = {"secret": (409, "public_app", "Public apps have no secret to rotate.")}


def field_errors_response(exc: FieldErrors) -> Response:
    """A use case's refusal: 422 invalid_app with the messages by field, or a state's code."""
    if exc.field in _STATE_ERRORS:
        status, code, message = _STATE_ERRORS[exc.field]
        return api_error_response(ApiError(status, code, message))
    return api_error_response(
        ApiError(422, "invalid_app", "Some fields are not valid.", fields=exc.errors)
    )


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
