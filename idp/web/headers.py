"""Security headers on every response (SECURITY-CHECKLIST 9).

Applied to every page rather than a chosen few: login, consent and error pages are the ones that
matter most, and a page that forgets them is the one a clickjacker finds.
"""

from __future__ import annotations

from flask import Response

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    # setdefault: pages whose form posts off-site (consent) set their own CSP first.
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
