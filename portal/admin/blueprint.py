"""The admin console's blueprint (/admin); the view modules add their routes to it.

Anyone who is not a signed-in admin gets the ordinary 404 page, so the console is never
advertised to people who cannot use it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort

from idp.services import audit_queries
from idp.services.audit_queries import USER_KEYS
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


@bp.context_processor
def _audit_user_keys() -> dict[str, tuple[str, ...]]:
    """Which audit details hold an account id, so the event tables show its name."""
    return {"audit_user_keys": USER_KEYS}


def events_context(work: Any, events: list[Record]) -> dict[str, Any]:
    """An event table's template values: the events and the name of every account they name."""
    names = audit_queries.usernames(work, audit_queries.people_in(events))
    return {"events": events, "names": names}
