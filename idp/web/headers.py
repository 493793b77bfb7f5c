"""Security headers on every response (docs/security.md#9).

Applied to every page rather than a chosen few: login, consent and error pages are the ones that
matter most, and a page that forgets them is the one a clickjacker finds.
"""

from __future__ import annotations

from flask import Response

from idp.protocol.headers import CSP, SECURITY_HEADERS

__all__ = ["CSP", "SECURITY_HEADERS", "add_security_headers"]


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    # setdefault: pages whose form posts off-site (consent) set their own CSP first.
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
