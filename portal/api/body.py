"""Strict JSON bodies: the right media type, one object, known fields, the right types.

Every way a body can be wrong has its own stable error code, so clients can branch on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import request

from idp.domain.request_text import BadText, check_json
from portal.api.errors import ApiError

MAX_BODY = 64 * 1024
MAX_LIST = 50


@dataclass(frozen=True)
class Field:
    kind: str  # "string", "string_list" or "integer"
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ApiError(400, "duplicate_field", f"The field {key!r} appears more than once.")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ApiError(400, "invalid_json", f"{name} is not valid JSON.")


def read_json(*, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is {} when `optional`."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"The body must be at most {MAX_BODY} bytes.")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"The body must be at most {MAX_BODY} bytes.")
    if not raw and optional:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    try:
        body = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_reject_duplicates, parse_constant=_no_constants
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The body is not valid UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The body must be a JSON object.")
    try:
        check_json(body)  # RFC 8259 8.2: lone surrogates parse, but are not text
    except BadText as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    return body


def check_fields(body: dict[str, Any], schema: dict[str, Field]) -> dict[str, Any]:
    """The body's fields, checked against the schema; raises on the first kind of problem."""
    unknown = sorted(k for k in body if k not in schema)
    if unknown:
        raise ApiError(
            400, "unknown_field", f"Unknown field(s): {', '.join(unknown)}.", fields=unknown
        )
    missing = sorted(k for k, f in schema.items() if f.required and k not in body)
    if missing:
        raise ApiError(
            400, "missing_field", f"Missing field(s): {', '.join(missing)}.", fields=missing
        )
    body = {k: _integral(v) if schema[k].kind == "integer" else v for k, v in body.items()}
    wrong = sorted(k for k, v in body.items() if not _fits(v, schema[k]))
    if wrong:
        expected = "; ".join(f"{k} must be {_describe(schema[k])}" for k in wrong)
        raise ApiError(400, "invalid_type", f"{expected}.", fields=wrong)
    return body


def _integral(value: Any) -> Any:
    """3600.0 as 3600: JSON Schema (and so the OpenAPI document) counts it as an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _fits(value: Any, field: Field) -> bool:
    if field.kind == "string":
        return isinstance(value, str)
    if field.kind == "string_list":
        return (
            isinstance(value, list)
            and len(value) <= MAX_LIST
            and all(isinstance(v, str) for v in value)
        )
    if field.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        low = field.minimum if field.minimum is not None else value
        high = field.maximum if field.maximum is not None else value
        return low <= value <= high
    return False


def _describe(field: Field) -> str:
    if field.kind == "string_list":
        return f"a list of at most {MAX_LIST} strings"
    if field.kind == "integer" and field.minimum is not None:
        return f"an integer from {field.minimum} to {field.maximum}"
    return f"a {field.kind}"
