"""/account/apps: the apps the signed-in user has authorized, each with a Revoke button."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from idp.services import connected_apps
from idp.web.context import caller, tessera, uow
from idp.web.sessions import current_user, login_required

bp = Blueprint("connected_apps", __name__, url_prefix="/account/apps")


@bp.route("", methods=["GET"])
@login_required
def index():
    with uow() as work:
        found = connected_apps.connected_apps(work, tessera().catalogue, current_user().id)
    return render_template("account/apps.html", apps=found)


@bp.route("/<gid>/revoke", methods=["POST"])
@login_required
def revoke(gid: str):
    # CSRFProtect has already refused a POST without a valid token (400) before we get here.
    try:
        with uow() as work:
            name = connected_apps.revoke(
                work, tessera().revocation_window, caller(), current_user().id, gid
            )
    except connected_apps.NotConnected:
        abort(404)
    flash(f"{name} no longer has access to your account.", "success")
    return redirect(url_for("connected_apps.index"), code=303)
