"""Public assets about apps: logos, served by Tessera itself (never a third-party URL)."""

from __future__ import annotations

import hashlib
from html import escape

from flask import Blueprint, Response, abort

from idp.web.context import uow

bp = Blueprint("public", __name__)

PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
    '<rect width="96" height="96" rx="16" fill="hsl({hue},55%,45%)"/>'
    '<text x="48" y="62" font-family="sans-serif" font-size="44" text-anchor="middle" fill="#fff">{letter}</text>'
    "</svg>"
)


@bp.route("/apps/<client_id>/logo")
def client_logo(client_id: str) -> Response:
    logo = uow().logos.public(client_id)
    if logo is None:
        abort(404)
    if logo.data is not None:
        response = Response(logo.data, mimetype=logo.content_type)
    else:
        hue = int(hashlib.sha256(client_id.encode()).hexdigest()[:4], 16) % 360
        letter = escape((logo.name.strip()[:1] or "?").upper())
        response = Response(PLACEHOLDER.format(hue=hue, letter=letter), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    return response
