"""Where to go after login: only paths on this site, never an open redirect."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

# Characters a path and query may carry as they are; anything else is percent-encoded, so the
# Location header never holds raw request text (docs/security.md#9, issue 12 item 1).
_URL_SAFE = "/?&=%:@!$'()*+,;~-._"


def safe_next(target: str | None, default: str = "/account") -> str:
    if not target or not isinstance(target, str):
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default  # a CR or LF would split the header; Werkzeug refuses it with a 500
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return quote(target, safe=_URL_SAFE)
