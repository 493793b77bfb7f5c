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


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        # Pages whose form redirects off-site (consent) set their own policy first.
        headers["Content-Security-Policy"] = CSP
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
