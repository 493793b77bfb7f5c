"""Credentials, access requests (restricted scopes, tiers) and members of one app."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from idp.domain.clients import APP_TYPES
from idp.services import clients
from idp.services.clients import ClientError
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from idp.web.context import caller, tessera
from idp.web.forms import ConfirmForm
from idp.web.sessions import current_user
from portal.developer.forms import MemberForm, RotateSecretForm, ScopeRequestForm, TierRequestForm
from portal.developer.views import bp, my_app, owner_only, remember_secret, take_secret
from portal.services import access_requests, apps


@bp.route("/apps/<client_id>/credentials")
def credentials(client_id: str):
    client = my_app(client_id).client
    # The secret rides in the session, encrypted, for exactly this one page view.
    secret = take_secret(client.client_id)
    response = render_template(
        "portal/credentials.html",
        client=client,
        confidential=APP_TYPES[client.app_type].confidential,
        secret=secret,
        secrets=sorted(client.secrets, key=lambda s: s.created_at, reverse=True),
        rotate_form=RotateSecretForm(),
        revoke_form=ConfirmForm(),
    )
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/apps/<client_id>/secret/rotate", methods=["POST"])
def rotate(client_id: str):
    client = my_app(client_id).client
    form = RotateSecretForm()
    if not form.validate_on_submit():
        flash("Choose how long the old secret should keep working.", "error")
        return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)
    try:
        secret = clients.rotate_secret(SqlAlchemyUnitOfWork(), caller(), client, form.grace.data)
    except ClientError as exc:
        flash(" ".join(m for ms in exc.errors.values() for m in ms), "error")
    else:
        remember_secret(client.client_id, secret)
        flash("A new secret was created. Copy it now: it is shown only once.", "success")
    return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>/secret/revoke-old", methods=["POST"])
def revoke_old(client_id: str):
    client = my_app(client_id).client
    if ConfirmForm().validate_on_submit():
        clients.revoke_old_secrets(SqlAlchemyUnitOfWork(), caller(), client)
        flash("Old secrets are revoked: only the newest one works now.", "success")
    return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>/access", methods=["GET", "POST"])
def access(client_id: str):
    """Ask for restricted scopes or a higher tier; see every request and the admin's answer."""
    client = my_app(client_id).client
    catalogue = tessera().catalogue
    scope_form = ScopeRequestForm(prefix="s").setup(catalogue, list(client.allowed_scopes or []))
    tier_form = TierRequestForm(prefix="t").setup(catalogue, client.tier)
    kind = request.form.get("kind") if request.method == "POST" else None
    form = {"scopes": scope_form, "tier": tier_form}.get(kind or "")
    if form is not None and form.validate_on_submit():
        try:
            if kind == "scopes":
                access_requests.request_scopes(
                    SqlAlchemyUnitOfWork(), catalogue, caller(), client, current_user().id,
                    list(form.scopes.data), form.justification.data,
                )  # fmt: skip
            else:
                access_requests.request_tier(
                    SqlAlchemyUnitOfWork(), catalogue, caller(), client, current_user().id,
                    form.tier.data, form.justification.data,
                )  # fmt: skip
        except access_requests.AccessRequestError as exc:
            target = getattr(form, exc.field, None)
            (target.errors if target is not None else form.form_errors).append(str(exc))
        else:
            flash("Your request is waiting for an admin's decision.", "success")
            return redirect(url_for("developer.access", client_id=client.client_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "portal/access.html",
        client=client,
        scope_form=scope_form,
        tier_form=tier_form,
        tier=catalogue.tier(client.tier),
        tiers=catalogue.tiers,
        requests=access_requests.for_client(client.id),
    ), status


@bp.route("/apps/<client_id>/members", methods=["GET", "POST"])
def members(client_id: str):
    found = my_app(client_id)
    client, form = found.client, MemberForm()
    if request.method == "POST":
        owner_only(found)
        if form.validate_on_submit():
            try:
                added = apps.add_member(
                    SqlAlchemyUnitOfWork(), caller(), client, current_user().id,
                    form.username.data, form.role.data,
                )  # fmt: skip
            except apps.MemberError as exc:
                form.username.errors = [*form.username.errors, str(exc)]
            else:
                flash(f"{added.username} can now work on {client.name}.", "success")
                return redirect(url_for("developer.members", client_id=client_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "portal/members.html",
        app=found,
        client=client,
        form=form,
        members=apps.members(client),
        remove_form=ConfirmForm(),
    ), status


@bp.route("/apps/<client_id>/members/<int:user_id>/remove", methods=["POST"])
def remove_member(client_id: str, user_id: int):
    found = my_app(client_id)
    owner_only(found)
    if ConfirmForm().validate_on_submit():
        try:
            apps.remove_member(
                SqlAlchemyUnitOfWork(), caller(), found.client, current_user().id, user_id
            )
        except apps.MemberError as exc:
            flash(str(exc), "error")
        else:
            flash("The member was removed.", "success")
    return redirect(url_for("developer.members", client_id=client_id), code=303)
