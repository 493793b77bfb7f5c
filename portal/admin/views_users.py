"""Admin console: accounts (search, disable, make admin) and the audit log viewer."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for

from idp.errors import FieldErrors
from idp.services import (
    app_admin,
    audit_export,
    audit_queries,
    federation,
    password_reset,
    users_admin,
)
from idp.services.ports import Record
from idp.web.context import caller, tessera, uow
from idp.web.errors import render_error
from idp.web.forms import ConfirmForm, apply_field_errors, flash_errors
from portal.admin.blueprint import admin, bp, events_context
from portal.admin.forms import ReasonForm

PAGE_SIZE = 50


def _user(user_id: int) -> Record:
    user = uow().users.get(user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users")
def users():
    query = app_admin.clean_text(request.args.get("q", ""), 254)
    found = users_admin.search_users(uow(), query, limit=PAGE_SIZE + 1)
    return render_template(
        "admin/users.html", users=found[:PAGE_SIZE], more=len(found) > PAGE_SIZE, query=query
    )


def _user_page(user: Record, disable: ReasonForm | None = None, status: int = 200):
    work = uow()
    return render_template(
        "admin/user.html",
        user=user,
        me=admin(),
        apps=users_admin.owned_apps(work, user.id),
        grants=users_admin.active_grant_count(work, user.id),
        links=federation.links_of(work, user.id),
        disable_form=disable or ReasonForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
        **events_context(work, audit_queries.recent_for_user(work, user.id)),
    ), status


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    return _user_page(_user(user_id))


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def disable(user_id: int):
    target, form = _user(user_id), ReasonForm()
    if form.validate_on_submit():
        try:
            with uow() as work:
                revoked = users_admin.disable_user(
                    work, tessera().revocation_window, caller(), admin(), target, form.reason.data
                )
        except FieldErrors as exc:
            apply_field_errors(form, exc)
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
        with uow() as work:
            users_admin.enable_user(work, caller(), admin(), target)
    except FieldErrors as exc:
        flash_errors(exc)
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
        with uow() as work:
            users_admin.set_admin(work, caller(), admin(), target, value == "1")
    except FieldErrors as exc:
        flash_errors(exc)
    else:
        flash(
            f"{target.username} is {'now an admin' if value == '1' else 'no longer an admin'}.",
            "success",
        )
    return redirect(url_for("admin.user", user_id=target.id), code=303)


@bp.route("/users/<int:user_id>/reset-link", methods=["POST"])
def send_reset_link(user_id: int):
    """Mail the account a password reset link (issue 13); audited."""
    from idp.web.recovery import reset_policy

    return _recovery_action(
        user_id,
        lambda work, target: password_reset.admin_send_link(
            work, reset_policy(), caller(), admin(), target
        ),
        "A password reset link was mailed to {email}.",
    )


@bp.route("/users/<int:user_id>/force-password-change", methods=["POST"])
def force_password_change(user_id: int):
    """The account is signed out and must choose a new password at its next sign-in."""
    return _recovery_action(
        user_id,
        lambda work, target: password_reset.admin_force_change(work, caller(), admin(), target),
        "{username} is signed out and must choose a new password at the next sign-in.",
    )


def _recovery_action(user_id: int, action, done: str):
    target = _user(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        with uow() as work:
            action(work, target)
    except FieldErrors as exc:
        flash_errors(exc)
    else:
        flash(done.format(email=target.email, username=target.username), "success")
    return redirect(url_for("admin.user", user_id=target.id), code=303)


@bp.route("/audit")
def audit():
    work = uow()
    filters = audit_queries.parse_filters(work, request.args)
    events, has_next = audit_queries.page_of_events(work, filters)
    return render_template(
        "admin/audit.html",
        filters=filters,
        has_next=has_next,
        **events_context(work, events),
        known_events=audit_queries.known_events(work),
    ), 400 if filters.errors else 200


@bp.route("/audit.csv")
def audit_csv():
    """Every event the filters match (up to audit_export.MAX_ROWS), as CSV."""
    work = uow()
    filters = audit_queries.parse_filters(work, request.args)
    if filters.errors:
        return render_error(400, " ".join(filters.errors.values()))
    events = audit_queries.events_for_export(work, filters, audit_export.MAX_ROWS)
    body = audit_export.to_csv(
        events, audit_queries.usernames(work, audit_queries.people_in(events))
    )
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="tessera-audit.csv"',
            "Cache-Control": "no-store",
        },
    )
