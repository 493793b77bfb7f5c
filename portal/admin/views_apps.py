"""Admin console: every app, searchable; limits, verification and suspension."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from idp.errors import FieldErrors
from idp.services import access_requests, app_admin, audit_queries, federation_admin
from idp.services.ports import Record
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors, flash_errors
from portal.admin.blueprint import admin, bp, events_context
from portal.admin.forms import LimitsForm, ReasonForm

PAGE_SIZE = 50


def _app(client_id: str) -> Record:
    client = app_admin.by_client_id(uow(), client_id)
    if client is None:
        abort(404)
    return client


@bp.route("/apps")
def apps():
    query = app_admin.clean_text(request.args.get("q", ""), 100)
    found = app_admin.search_apps(uow(), query, limit=PAGE_SIZE + 1)
    catalogue = tessera().catalogue
    return render_template(
        "admin/apps.html",
        apps=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        query=query,
        owners=app_admin.owners_of(uow(), found),
        rates={c.id: app_admin.limits_of(catalogue, c) for c in found},
    )


def _app_page(
    client: Record,
    limits: LimitsForm | None = None,
    suspend: ReasonForm | None = None,
    status: int = 200,
):
    catalogue, work = tessera().catalogue, uow()
    if limits is None:
        limits = LimitsForm(
            formdata=None,
            tier=client.tier,
            custom_rps="" if client.custom_rps is None else f"{client.custom_rps:g}",
            custom_burst="" if client.custom_burst is None else str(client.custom_burst),
        )
    return render_template(
        "admin/app.html",
        client=client,
        owner=app_admin.owner_of(work, client),
        rate=app_admin.limits_of(catalogue, client),
        catalogue=catalogue,
        limits=limits.setup(catalogue),
        suspend_form=suspend or ReasonForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
        requests=access_requests.for_client(work, client.id),
        grants=work.grants.count_active_for_client(client.id),
        **events_context(work, audit_queries.recent_for_app(work, client.client_id)),
    ), status


@bp.route("/apps/<client_id>")
def app(client_id: str):
    return _app_page(_app(client_id))


@bp.route("/apps/<client_id>/limits", methods=["POST"])
def limits(client_id: str):
    client = _app(client_id)
    form = LimitsForm().setup(tessera().catalogue)
    if form.validate_on_submit():
        try:
            with uow() as work:
                app_admin.set_limits(
                    work, tessera().catalogue, caller(), admin().id, client, tier=form.tier.data,
                    custom_rps=form.custom_rps.data, custom_burst=form.custom_burst.data,
                )  # fmt: skip
        except FieldErrors as exc:
            apply_field_errors(form, exc)
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
    with uow() as work:
        app_admin.set_verified(work, caller(), admin().id, client, value == "1")
    flash(f"{client.name} is {'now' if value == '1' else 'no longer'} marked verified.", "success")
    return redirect(url_for("admin.app", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>/suspend", methods=["POST"])
def suspend(client_id: str):
    client = _app(client_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            with uow() as work:
                app_admin.suspend(work, caller(), admin().id, client, form.reason.data)
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            flash(f"{client.name} is suspended: its tokens no longer work.", "success")
            return redirect(url_for("admin.app", client_id=client.client_id), code=303)
    return _app_page(client, suspend=form, status=400)


@bp.route("/apps/<client_id>/unsuspend", methods=["POST"])
def unsuspend(client_id: str):
    client = _app(client_id)
    try:
        with uow() as work:
            app_admin.unsuspend(work, caller(), admin().id, client, tessera().revocation_window)
    except FieldErrors as exc:
        flash_errors(exc)
    else:
        flash(f"{client.name} may get tokens again.", "success")
    return redirect(url_for("admin.app", client_id=client.client_id), code=303)


def _flag(name: str) -> bool:
    value = request.form.get(name)
    if value not in ("1", "0"):
        abort(400)
    return value == "1"


@bp.route("/apps/<client_id>/first-party", methods=["POST"])
def first_party(client_id: str):
    """docs/federation.md: first-party apps skip the consent screen (recorded as implied)."""
    client = _app(client_id)
    value = _flag("first_party")
    with uow() as work:
        federation_admin.set_first_party(work, caller(), admin().id, client, value)
    flash(f"{client.name} is now a {'first' if value else 'third'}-party app.", "success")
    return redirect(url_for("admin.app", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>/token-exchange", methods=["POST"])
def token_exchange(client_id: str):
    client = _app(client_id)
    value = _flag("token_exchange")
    try:
        with uow() as work:
            federation_admin.set_token_exchange(work, caller(), admin().id, client, value)
    except FieldErrors as exc:
        flash_errors(exc)
    else:
        flash(f"Token exchange is {'allowed' if value else 'off'} for {client.name}.", "success")
    return redirect(url_for("admin.app", client_id=client.client_id), code=303)
