"""The front page and the health check.

Signed in, the front page is your account; signed out, it says what Tessera is and where to go:
sign in, create an account, or read the developer docs.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for

from idp.web.context import uow
from idp.web.sessions import current_user

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    if current_user():
        return redirect(url_for("account.index"), code=303)
    return render_template("home.html")


@bp.route("/healthz")
def health():
    uow().ping()
    return jsonify(status="ok")
