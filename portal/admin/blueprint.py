"""The admin console's blueprint (/admin); the view modules add their routes to it.

Anyone who is not a signed-in admin gets the ordinary 404 page, so the console is never
advertised to people who cannot use it.
"""

from __future__ import annotations

from flask import Blueprint, abort

from idp.services.ports import Record
from idp.web.sessions import current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only() -> None:
    user = current_user()
    if user is None or not user.is_admin:
        abort(404)


def admin() -> Record:
    return current_user()
