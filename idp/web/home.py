"""The front page and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from sqlalchemy import text

from idp.extensions import db
from idp.web.sessions import current_user

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    return redirect(url_for("account.index" if current_user() else "auth.login"), code=303)


@bp.route("/healthz")
def health():
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
