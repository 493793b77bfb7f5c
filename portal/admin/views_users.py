"""Admin console: accounts (search, disable, make admin) and the audit log viewer."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from idp.storage.models import User
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from idp.web.context import caller, tessera
from idp.web.forms import ConfirmForm
from portal.admin.forms import ReasonForm
from portal.admin.views import admin, bp, put_error
from portal.services import admin_apps, admin_users, audit_log

PAGE_SIZE = 50


def _user(user_id: int) -> User:
    user = SqlAlchemyUnitOfWork().users.get(user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users")
def users():
    query = admin_apps.clean_text(request.args.get("q", ""), 254)
    found = admin_users.search_users(SqlAlchemyUnitOfWork(), query, limit=PAGE_SIZE + 1)
    return render_template(
        "admin/users.html", users=found[:PAGE_SIZE], more=len(found) > PAGE_SIZE, query=query
    )


def _user_page(user: User, disable: ReasonForm | None = None, status: int = 200):
    uow = SqlAlchemyUnitOfWork()
    return render_template(
        "admin/user.html",
        user=user,
        me=admin(),
        apps=admin_users.owned_apps(user.id),
        grants=admin_users.active_grant_count(user.id),
        disable_form=disable or ReasonForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
        events=uow.audit.query(user_id=user.id, limit=20),
    ), status


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    return _user_page(_user(user_id))


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def disable(user_id: int):
    target, form = _user(user_id), ReasonForm()
    if form.validate_on_submit():
        uow = SqlAlchemyUnitOfWork()
        try:
            revoked = admin_users.disable_user(
                uow, tessera().revocation_window, caller(), admin(), target, form.reason.data
            )
        except admin_users.AdminError as exc:
            uow.rollback()
            put_error(form, exc.field, str(exc))
        else:
            flash(
                f"{target.username} is disabled: signed out everywhere, "
                f"{revoked} app authorization(s) revoked.",
                "success",
            )
            return redirect(url_for("admin.user", user_id=target.id), code=303)
    return _user_page(target, disable=form, status=400)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def enable(user_id: int):
    target = _user(user_id)
    try:
        admin_users.enable_user(SqlAlchemyUnitOfWork(), caller(), admin(), target)
    except admin_users.AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{target.username} can sign in again.", "success")
    return redirect(url_for("admin.user", user_id=target.id), code=303)


@bp.route("/users/<int:user_id>/admin", methods=["POST"])
def set_admin(user_id: int):
    target = _user(user_id)
    value = request.form.get("admin")
    if value not in ("1", "0"):
        abort(400)
    try:
        admin_users.set_admin(SqlAlchemyUnitOfWork(), caller(), admin(), target, value == "1")
    except admin_users.AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"{target.username} is {'now an admin' if value == '1' else 'no longer an admin'}.",
            "success",
        )
    return redirect(url_for("admin.user", user_id=target.id), code=303)


@bp.route("/audit")
def audit():
    filters = audit_log.parse_filters(request.args)
    events, has_next = audit_log.page_of_events(SqlAlchemyUnitOfWork(), filters)
    names = audit_log.usernames({e.user_id for e in events if e.user_id})
    return render_template(
        "admin/audit.html",
        filters=filters,
        events=events,
        has_next=has_next,
        names=names,
        known_events=audit_log.known_events(),
    ), 400 if filters.errors else 200
