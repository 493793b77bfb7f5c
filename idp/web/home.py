"""The front page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for

from idp.web.context import uow
from idp.web.sessions import current_user

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    return redirect(url_for("account.index" if current_user() else "auth.login"), code=303)


@bp.route("/healthz")
def health():
    uow().ping()
    return jsonify(status="ok")
