"""Developer portal (/developers): a developer's own apps, from sign-up to a working client_id.

Every view finds the app through portal.services.apps.app_for_user, so an app the signed-in
user neither owns nor belongs to is a 404, exactly like an app that does not exist.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.datastructures import FileStorage

from idp.domain.clients import APP_TYPES
from idp.services import clients
from idp.services.clients import ClientError, ClientSpec
from idp.storage.keystore import fernet_from
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from idp.web.context import caller, tessera
from idp.web.sessions import current_user, login_required
from portal.developer.charts import bar_chart
from portal.developer.forms import CreateAppForm, DeleteAppForm, EditAppForm, lines
from portal.services import access_requests, apps, logos, usage

bp = Blueprint("developer", __name__, url_prefix="/developers")
NEW_SECRET = "portal_new_secret"


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every page here needs a signed-in user (login_required returns None when signed in)."""


def my_app(client_id: str) -> apps.MyApp:
    found = apps.app_for_user(current_user().id, client_id)
    if found is None:
        abort(404)
    return found


def owner_only(found: apps.MyApp) -> None:
    if not found.is_owner:
        abort(403)


def apply_errors(form: Any, errors: dict[str, list[str]]) -> None:
    """Put each service error next to its field; anything without a field goes on top."""
    for key, messages in errors.items():
        target = getattr(form, key, None)
        if target is not None and hasattr(target, "errors") and key != "csrf_token":
            target.errors = [*target.errors, *messages]
        else:
            form.form_errors.extend(messages)


def read_logo(form: Any) -> bytes | None:
    """The uploaded bytes, or None when no file was chosen; a bad file becomes a field error."""
    upload = form.logo.data
    if not isinstance(upload, FileStorage) or not upload.filename:
        return None
    data = upload.read(logos.MAX_BYTES + 1)
    try:
        logos.normalise_logo(data)
    except logos.LogoError as exc:
        form.logo.errors = [*form.logo.errors, str(exc)]
        return None
    return data


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


@bp.route("")
def index():
    return render_template("portal/index.html", apps=apps.apps_for_user(current_user().id))


@bp.route("/apps/new", methods=["GET", "POST"])
def create():
    catalogue = tessera().catalogue
    form = CreateAppForm().setup(catalogue)
    if form.validate_on_submit():
        logo = read_logo(form)
        spec = ClientSpec(
            name=form.name.data or "",
            app_type=form.app_type.data,
            redirect_uris=lines(form.redirect_uris.data),
            post_logout_redirect_uris=lines(form.post_logout_redirect_uris.data),
            scopes=list(form.scopes.data or []),
            description=form.description.data or "",
            homepage_url=form.homepage_url.data or "",
            privacy_url=form.privacy_url.data or "",
            tos_url=form.tos_url.data or "",
        )
        try:
            clients.validate_spec(spec, catalogue, allow_restricted=False)
        except ClientError as exc:
            apply_errors(form, exc.errors)
        if not form.errors and not form.form_errors:
            return _create(form, spec, logo)
    status = 400 if request.method == "POST" else 200
    return render_template("portal/new.html", form=form, app_types=APP_TYPES), status


def _create(form: CreateAppForm, spec: ClientSpec, logo: bytes | None):
    uow, user = SqlAlchemyUnitOfWork(), current_user()
    client, secret = clients.create_client(
        uow, tessera().catalogue, caller(), spec, owner_id=user.id
    )
    if logo:
        logos.set_logo(uow, caller(), client, user.id, logo)
    if form.restricted_scopes.data:
        try:
            access_requests.request_scopes(
                uow, tessera().catalogue, caller(), client, user.id,
                list(form.restricted_scopes.data), form.justification.data,
            )  # fmt: skip
        except access_requests.AccessRequestError as exc:  # the form checked it; say so anyway
            flash(f"The app was created, but the scope request was not: {exc}", "error")
        else:
            flash("Your request for restricted scopes is waiting for an admin.", "success")
    remember_secret(client.client_id, secret)
    flash(f"{client.name} is registered.", "success")
    return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>")
def show(client_id: str):
    found = my_app(client_id)
    client = found.client
    tessera().usage.flush()  # this worker's not-yet-written counts belong in the chart
    stats = usage.usage_for(client)
    return render_template(
        "portal/show.html",
        app=found,
        client=client,
        app_type=APP_TYPES[client.app_type],
        tier=tessera().catalogue.tier(client.tier),
        usage=stats,
        chart=bar_chart(stats.daily, "Tokens issued per day, last 30 days"),
        requests=access_requests.for_client(client.id),
        has_logo=logos.has_logo(client),
    )


@bp.route("/apps/<client_id>/edit", methods=["GET", "POST"])
def edit(client_id: str):
    found = my_app(client_id)
    client, catalogue = found.client, tessera().catalogue
    form = EditAppForm(obj=None if request.method == "POST" else _as_form_data(client))
    form.setup(catalogue, list(client.allowed_scopes or []))
    if form.validate_on_submit():
        logo = read_logo(form)
        changes = {
            "name": form.name.data or "",
            "description": form.description.data or "",
            "homepage_url": form.homepage_url.data or "",
            "privacy_url": form.privacy_url.data or "",
            "tos_url": form.tos_url.data or "",
            "redirect_uris": lines(form.redirect_uris.data),
            "post_logout_redirect_uris": lines(form.post_logout_redirect_uris.data),
            "scopes": list(form.scopes.data or []),
        }
        if not form.logo.errors:
            uow = SqlAlchemyUnitOfWork()
            try:
                apps.update_app(uow, catalogue, caller(), client, current_user().id, **changes)
            except ClientError as exc:
                uow.rollback()
                apply_errors(form, exc.errors)
            else:
                if logo:
                    logos.set_logo(uow, caller(), client, current_user().id, logo)
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
            clients.delete_client(
                SqlAlchemyUnitOfWork(), tessera().revocation_window, caller(), client
            )
            flash(f"{name} was deleted; every token it held is revoked.", "success")
            return redirect(url_for("developer.index"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("portal/delete.html", form=form, client=client), status


from portal.developer import views_access  # noqa: E402, F401 - registers the remaining routes
