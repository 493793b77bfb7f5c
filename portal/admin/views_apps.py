"""Admin console: every app, searchable; limits, verification and suspension."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from idp.storage.models import Client
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from idp.web.context import caller, tessera
from idp.web.forms import ConfirmForm
from portal.admin.forms import LimitsForm, ReasonForm
from portal.admin.views import admin, bp, put_error
from portal.services import access_requests, admin_apps

PAGE_SIZE = 50


def _app(client_id: str) -> Client:
    client = admin_apps.by_client_id(client_id)
    if client is None:
        abort(404)
    return client


@bp.route("/apps")
def apps():
    query = admin_apps.clean_text(request.args.get("q", ""), 100)
    found = admin_apps.search_apps(query, limit=PAGE_SIZE + 1)
    return render_template(
        "admin/apps.html",
        apps=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        query=query,
        owners=admin_apps.owners_of(found),
    )


def _app_page(
    client: Client,
    limits: LimitsForm | None = None,
    suspend: ReasonForm | None = None,
    status: int = 200,
):
    catalogue = tessera().catalogue
    if limits is None:
        limits = LimitsForm(
            formdata=None,
            tier=client.tier,
            custom_rps="" if client.custom_rps is None else f"{client.custom_rps:g}",
            custom_burst="" if client.custom_burst is None else str(client.custom_burst),
        )
    uow = SqlAlchemyUnitOfWork()
    return render_template(
        "admin/app.html",
        client=client,
        owner=admin_apps.owner_of(client),
        tier=catalogue.tier(client.tier),
        catalogue=catalogue,
        limits=limits.setup(catalogue),
        suspend_form=suspend or ReasonForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
        requests=access_requests.for_client(client.id),
        grants=uow.grants.count_active_for_client(client.id),
        events=uow.audit.query(client_id=client.client_id, limit=20),
    ), status


@bp.route("/apps/<client_id>")
def app(client_id: str):
    return _app_page(_app(client_id))


@bp.route("/apps/<client_id>/limits", methods=["POST"])
def limits(client_id: str):
    client = _app(client_id)
    form = LimitsForm().setup(tessera().catalogue)
    if form.validate_on_submit():
        uow = SqlAlchemyUnitOfWork()
        try:
            admin_apps.set_limits(
                uow, tessera().catalogue, caller(), admin().id, client, tier=form.tier.data,
                custom_rps=admin_apps.parse_rps(form.custom_rps.data),
                custom_burst=admin_apps.parse_burst(form.custom_burst.data),
            )  # fmt: skip
        except admin_apps.AdminError as exc:
            uow.rollback()
            put_error(form, exc.field, str(exc))
        else:
            flash(f"The limits of {client.name} are saved.", "success")
            return redirect(url_for("admin.app", client_id=client.client_id), code=303)
    return _app_page(client, limits=form, status=400)


@bp.route("/apps/<client_id>/verified", methods=["POST"])
def verified(client_id: str):
    client = _app(client_id)
    value = request.form.get("verified")
    if value not in ("1", "0"):
        abort(400)
    admin_apps.set_verified(SqlAlchemyUnitOfWork(), caller(), admin().id, client, value == "1")
    flash(f"{client.name} is {'now' if value == '1' else 'no longer'} marked verified.", "success")
    return redirect(url_for("admin.app", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>/suspend", methods=["POST"])
def suspend(client_id: str):
    client = _app(client_id)
    form = ReasonForm()
    if form.validate_on_submit():
        uow = SqlAlchemyUnitOfWork()
        try:
            admin_apps.suspend(uow, caller(), admin().id, client, form.reason.data)
        except admin_apps.AdminError as exc:
            uow.rollback()
            put_error(form, exc.field, str(exc))
        else:
            flash(f"{client.name} is suspended: its tokens no longer work.", "success")
            return redirect(url_for("admin.app", client_id=client.client_id), code=303)
    return _app_page(client, suspend=form, status=400)


@bp.route("/apps/<client_id>/unsuspend", methods=["POST"])
def unsuspend(client_id: str):
    client = _app(client_id)
    try:
        admin_apps.unsuspend(SqlAlchemyUnitOfWork(), caller(), admin().id, client)
    except admin_apps.AdminError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{client.name} may get tokens again.", "success")
    return redirect(url_for("admin.app", client_id=client.client_id), code=303)
