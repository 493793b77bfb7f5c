"""Developer portal: a developer's own apps, from sign-up to a working client_id."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import FileStorage

from idp.domain.clients import APP_TYPES
from idp.errors import FieldErrors
from idp.services import (
    access_requests,
    app_admin,
    app_members,
    app_specs,
    app_usage,
    apps,
    logos,
)
from idp.services.app_specs import ClientSpec
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors
from idp.web.sessions import current_user
from portal.developer.blueprint import bp, my_app, owner_only, remember_secret
from portal.developer.charts import bar_chart
from portal.developer.forms import CreateAppForm, DeleteAppForm, EditAppForm, lines


def read_logo(form: Any) -> bytes | None:
    """The uploaded bytes (checked by the use case), or None when no file was chosen."""
    upload = form.logo.data
    if not isinstance(upload, FileStorage) or not upload.filename:
        return None
    return upload.read(logos.MAX_BYTES + 1)


def _details(form: Any) -> dict[str, Any]:
    return {
        "name": form.name.data or "",
        "description": form.description.data or "",
        "homepage_url": form.homepage_url.data or "",
        "privacy_url": form.privacy_url.data or "",
        "tos_url": form.tos_url.data or "",
        "redirect_uris": lines(form.redirect_uris.data),
        "post_logout_redirect_uris": lines(form.post_logout_redirect_uris.data),
        "scopes": list(form.scopes.data or []),
    }


@bp.route("")
def index():
    user_id = current_user().id
    return render_template(
        "portal/index.html",
        apps=apps.apps_for_user(uow(), user_id),
        invitations=app_members.invitations_for(uow(), user_id),
        answer_form=ConfirmForm(),
    )


def _one_pass(form: Any, app_type: str) -> None:
    """The form's own checks failed: add the use case's checks of the same input, so every
    problem shows at once instead of one round per layer."""
    spec = ClientSpec(app_type=app_type, **_details(form))
    try:
        app_specs.validate_spec(spec, tessera().catalogue, allow_restricted=False)
    except FieldErrors as exc:
        for name, messages in exc.errors.items():
            if name in form and not form[name].errors:
                form[name].errors = [*form[name].errors, *messages]


def _chosen_type(form: Any) -> str:
    """The app type the form is for: the POSTed one, else ?type=, else web."""
    wanted = form.app_type.data if request.method == "POST" else request.args.get("type")
    return wanted if wanted in APP_TYPES else "web"


@bp.route("/apps/new", methods=["GET", "POST"])
def create():
    form = CreateAppForm().setup(tessera().catalogue)
    app_type = _chosen_type(form)
    if request.method == "GET":
        form.app_type.data = app_type
    if request.method == "POST" and not form.validate_on_submit():
        _one_pass(form, form.app_type.data or "")
    elif form.validate_on_submit():
        wanted = apps.ScopeRequest(
            list(form.restricted_scopes.data or []), form.justification.data or ""
        )
        try:
            with uow() as work:
                client, secret = apps.create_client(
                    work, tessera().catalogue, caller(),
                    ClientSpec(app_type=form.app_type.data, **_details(form)),
                    owner_id=current_user().id, logo=read_logo(form), scope_request=wanted,
                )  # fmt: skip
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            if wanted.scopes:
                flash("Your request for restricted scopes is waiting for an admin.", "success")
            remember_secret(client.client_id, secret)
            flash(f"{client.name} is registered.", "success")
            return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "portal/new.html", form=form, app_types=APP_TYPES, app_type=APP_TYPES[app_type]
    ), status


@bp.route("/apps/<client_id>")
def show(client_id: str):
    found, work = my_app(client_id), uow()
    client = found.client
    tessera().usage.flush()  # this worker's not-yet-written counts belong in the chart
    stats = app_usage.usage_for(work, client)
    return render_template(
        "portal/show.html",
        app=found,
        client=client,
        app_type=APP_TYPES[client.app_type],
        rate=app_admin.limits_of(tessera().catalogue, client),
        held=app_specs.held_scopes(
            client.app_type, list(client.allowed_scopes or []), tessera().catalogue
        ),
        usage=stats,
        chart=bar_chart(stats.daily, "Tokens issued per day, last 30 days"),
        requests=access_requests.for_client(work, client.id),
        has_logo=logos.has_logo(work, client),
    )


@bp.route("/apps/<client_id>/usage")
def usage(client_id: str):
    """Per day: tokens issued, active users and token-endpoint errors by code."""
    client = my_app(client_id).client
    tessera().usage.flush()
    stats = app_usage.usage_for(uow(), client)
    return render_template(
        "portal/usage.html",
        client=client,
        usage=stats,
        chart=bar_chart(stats.daily, "Tokens issued per day, last 30 days"),
    )


@bp.route("/apps/<client_id>/edit", methods=["GET", "POST"])
def edit(client_id: str):
    client, catalogue = my_app(client_id).client, tessera().catalogue
    form = EditAppForm(obj=None if request.method == "POST" else _as_form_data(client))
    form.setup(catalogue, list(client.allowed_scopes or []))
    if request.method == "POST" and not form.validate_on_submit():
        _one_pass(form, client.app_type)
    elif form.validate_on_submit():
        try:
            with uow() as work:
                apps.update_app(
                    work, catalogue, caller(), client, current_user().id, logo=read_logo(form),
                    **_details(form),
                )  # fmt: skip
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            flash("Your changes are saved.", "success")
            return redirect(url_for("developer.show", client_id=client.client_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("portal/edit.html", form=form, client=client), status


class _FormData:
    """The app's current values in the shape the edit form reads them."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _as_form_data(client: Any) -> _FormData:
    return _FormData(
        name=client.name,
        description=client.description,
        homepage_url=client.homepage_url,
        privacy_url=client.privacy_url,
        tos_url=client.tos_url,
        redirect_uris="\n".join(client.redirect_uris or []),
        post_logout_redirect_uris="\n".join(client.post_logout_redirect_uris or []),
        scopes=list(client.allowed_scopes or []),
    )


@bp.route("/apps/<client_id>/delete", methods=["GET", "POST"])
def delete(client_id: str):
    found = my_app(client_id)
    owner_only(found)
    client, form = found.client, DeleteAppForm()
    if form.validate_on_submit():
        if form.confirm_name.data.strip() != client.name:
            form.confirm_name.errors = [*form.confirm_name.errors, "The name does not match."]
        else:
            name = client.name
            with uow() as work:
                apps.delete_client(work, tessera().revocation_window, caller(), client)
            flash(f"{name} was deleted; every token it held is revoked.", "success")
            return redirect(url_for("developer.index"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("portal/delete.html", form=form, client=client), status
