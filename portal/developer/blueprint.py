"""The developer portal's blueprint (/developers) and what its view modules share.

Every view finds the app through idp.services.apps.app_for_user, so an app the signed-in
user neither owns nor belongs to is a 404, exactly like an app that does not exist.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, session

from idp.services import apps
from idp.storage.keystore import fernet_from
from idp.web.context import uow
from idp.web.sessions import current_user, login_required

bp = Blueprint("developer", __name__, url_prefix="/developers")
NEW_SECRET = "portal_new_secret"


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every page here needs a signed-in user (login_required returns None when signed in)."""


def my_app(client_id: str) -> apps.MyApp:
    found = apps.app_for_user(uow(), current_user().id, client_id)
    if found is None:
        abort(404)
    return found


def owner_only(found: apps.MyApp) -> None:
    if not found.is_owner:
        abort(403)


def _sealer() -> Fernet:
    return fernet_from(current_app.config["SECRET_KEY"], purpose="one-time-secret")


def remember_secret(client_id: str, secret: str | None) -> None:
    """Carry a new secret to the next page only, encrypted: the session cookie is signed, not secret."""
    if secret:
        session[NEW_SECRET] = {
            "client_id": client_id,
            "sealed": _sealer().encrypt(secret.encode()).decode(),
        }


def take_secret(client_id: str) -> str | None:
    """The secret remembered for this app, once; gone from the session afterwards."""
    pending = session.pop(NEW_SECRET, None)
    if not isinstance(pending, dict) or pending.get("client_id") != client_id:
        return None
    try:
        return _sealer().decrypt(str(pending.get("sealed", "")).encode(), ttl=600).decode()
    except InvalidToken:
        return None
