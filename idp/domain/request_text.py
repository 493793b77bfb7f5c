"""What request text may hold: the one rule every surface applies at its edge.

Text that reaches a service is valid Unicode a database can store and a log can show: no NUL
(PostgreSQL refuses it in text), no other control character but tab, line feed and carriage
return, no lone surrogate (RFC 8259 8.2: JSON lets ``\\ud800`` through, UTF-8 cannot encode it).
Numbers are ASCII digits only: ``"²".isdigit()`` is True and ``int("²")`` raises, and ``int``
also reads Arabic-Indic digits no client means to send.

Pure functions: the Flask hook (idp.web.edge), the machine endpoints
(idp.protocol.machine_endpoints) and the management API (portal.api.body) call them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

# C0 controls but TAB, LF and CR; DEL; C1 controls; the surrogate range (only lone ones can
# occur in a Python str).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # the ASCII part of it
_ASCII_DIGITS = re.compile(r"[0-9]+")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,40}")  # a parameter name safe to quote back
MAX_DEPTH = 32  # JSON nesting the API could ever need; deeper is refused, not recursed into


class BadText(ValueError):
    """Request text no surface accepts; ``str(exc)`` is safe to show (it quotes no input)."""


def check_text(value: str, what: str = "A parameter") -> str:
    """The value unchanged, or BadText when it holds a character no request text may hold."""
    match = _FORBIDDEN.search(value)
    if match is None:
        return value
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        raise BadText(f"{what} holds a lone surrogate, which is not valid Unicode text.")
    raise BadText(f"{what} holds a control character (U+{ord(char):04X}), which is not allowed.")


def check_pairs(pairs: Iterable[tuple[str, str]] | Mapping[str, str], what: str) -> None:
    """Every name and value of a query string or form."""
    items = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
    # One search over everything first: the token endpoint is a hot path and almost every
    # request is clean; the loop below only runs to say which parameter is not.
    if not _FORBIDDEN.search("".join(name + value for name, value in items)):
        return
    for name, value in items:
        check_text(name, f"A {what} parameter name")
        check_text(
            value, f"The {what} parameter {name!r}" if _printable(name) else f"A {what} parameter"
        )


def check_json(value: Any, depth: int = 0) -> None:
    """Every key and string of a parsed JSON document (RFC 8259 8.2)."""
    if depth > MAX_DEPTH:
        raise BadText("The JSON document is nested too deeply.")
    if isinstance(value, str):
        check_text(value, "A string in the body")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, "A field name in the body")
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)


def check_basic_credentials(authorization: str | None) -> None:
    """RFC 7617 2: Basic credentials that decode are UTF-8 text without control characters.

    RFC 6749 2.3.1 form-encodes the client id and secret inside them, so the decoded halves are
    checked too. Credentials that are not base64 at all are left to the client authentication,
    which refuses them as it refuses a wrong secret.
    """
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return
    if not encoded.strip():
        raise BadText("The Basic credentials are empty (RFC 7617 2).")
    try:
        # Decoded as leniently as the client authentication will (Authlib skips stray
        # characters), so what is checked here is exactly what it would read.
        raw = base64.b64decode(encoded.strip())
    except (binascii.Error, ValueError):
        return
    if raw.isascii() and b"%" not in raw and not _FORBIDDEN_BYTES.search(raw):
        return  # the usual case, checked without decoding anything twice
    try:
        text = raw.decode("utf-8")
        halves = [unquote_to_bytes(half).decode("utf-8") for half in text.split(":", 1)]
    except UnicodeDecodeError:
        raise BadText("The Basic credentials are not UTF-8 (RFC 7617 2).") from None
    for half in (text, *halves):
        check_text(half, "The Basic credentials")


def ascii_int(text: str | None, *, max_digits: int = 18) -> int | None:
    """A non-negative whole number written in ASCII digits, or None."""
    if text is None or len(text) > max_digits or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)


def _printable(name: str) -> bool:
    return _SAFE_NAME.fullmatch(name) is not None
