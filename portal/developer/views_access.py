"""Credentials, access requests (restricted scopes, tiers), members of one app and the
invitations to join one."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from idp.domain.clients import APP_TYPES
from idp.errors import FieldErrors
from idp.services import access_requests, app_admin, app_members, app_specs, apps
from idp.services.ports import Record
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors, flash_errors
from idp.web.sessions import current_user
from portal.developer.blueprint import bp, my_app, owner_only, remember_secret, take_secret
from portal.developer.forms import (
    MemberForm,
    RevokeOldSecretsForm,
    RotateSecretForm,
    ScopeRequestForm,
    TierRequestForm,
)


def _credentials_page(
    client: Record,
    rotate_form: RotateSecretForm | None = None,
    revoke_form: RevokeOldSecretsForm | None = None,
    status: int = 200,
):
    # The secret rides in the session, encrypted, for exactly this one page view.
    secret = take_secret(client.client_id) if status == 200 else None
    response = render_template(
        "portal/credentials.html",
        client=client,
        confidential=APP_TYPES[client.app_type].confidential,
        secret=secret,
        secrets=sorted(client.secrets, key=lambda s: s.created_at, reverse=True),
        rotate_form=rotate_form or RotateSecretForm(formdata=None),
        revoke_form=revoke_form or RevokeOldSecretsForm(formdata=None),
    )
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/apps/<client_id>/credentials")
def credentials(client_id: str):
    return _credentials_page(my_app(client_id).client)


@bp.route("/apps/<client_id>/secret/rotate", methods=["POST"])
def rotate(client_id: str):
    client = my_app(client_id).client
    form = RotateSecretForm()
    if not form.validate_on_submit():
        return _credentials_page(client, rotate_form=form, status=400)
    try:
        with uow() as work:
            secret = apps.rotate_secret(work, caller(), client, form.grace.data)
    except FieldErrors as exc:
        flash_errors(exc)
    else:
        remember_secret(client.client_id, secret)
        flash("A new secret was created. Copy it now: it is shown only once.", "success")
    return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)


@bp.route("/apps/<client_id>/secret/revoke-old", methods=["POST"])
def revoke_old(client_id: str):
    client = my_app(client_id).client
    form = RevokeOldSecretsForm()
    if not form.validate_on_submit():
        return _credentials_page(client, revoke_form=form, status=400)
    with uow() as work:
        apps.revoke_old_secrets(work, caller(), client)
    flash("Old secrets are revoked: only the newest one works now.", "success")
    return redirect(url_for("developer.credentials", client_id=client.client_id), code=303)


def _ask(kind: str, form: ScopeRequestForm | TierRequestForm, client: Record) -> None:
    """File the request the submitted form asks for."""
    catalogue, user_id = tessera().catalogue, current_user().id
    with uow() as work:
        if kind == "scopes":
            access_requests.request_scopes(
                work, catalogue, caller(), client, user_id, list(form.scopes.data),
                form.justification.data,
            )  # fmt: skip
        else:
            access_requests.request_tier(
                work, catalogue, caller(), client, user_id, form.tier.data, form.justification.data
            )


@bp.route("/apps/<client_id>/access", methods=["GET", "POST"])
def access(client_id: str):
    """Ask for restricted scopes or a higher tier; see every request and the admin's answer."""
    client = my_app(client_id).client
    catalogue = tessera().catalogue
    held = app_specs.held_scopes(client.app_type, list(client.allowed_scopes or []), catalogue)
    pending = access_requests.pending_for(uow(), client.id)
    waiting = access_requests.pending_scopes(pending)
    scope_form = ScopeRequestForm(prefix="s").setup(catalogue, client.app_type, held, waiting)
    tier_form = TierRequestForm(prefix="t").setup(catalogue, client.tier)
    kind = request.form.get("kind") if request.method == "POST" else None
    form = {"scopes": scope_form, "tier": tier_form}.get(kind or "")
    if form is not None and form.validate_on_submit():
        try:
            _ask(kind, form, client)
        except FieldErrors as exc:
            apply_field_errors(form, exc)
        else:
            flash("Your request is waiting for an admin's decision.", "success")
            return redirect(url_for("developer.access", client_id=client.client_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "portal/access.html",
        client=client,
        scope_form=scope_form,
        tier_form=tier_form,
        held=held,
        waiting=sorted(waiting),
        tier_waiting=access_requests.tier_pending(pending),
        rate=app_admin.limits_of(catalogue, client),
        tiers=catalogue.tiers,
        requests=access_requests.for_client(uow(), client.id),
    ), status


@bp.route("/apps/<client_id>/members", methods=["GET", "POST"])
def members(client_id: str):
    found = my_app(client_id)
    client, form = found.client, MemberForm()
    if request.method == "POST":
        owner_only(found)
        if form.validate_on_submit():
            try:
                with uow() as work:
                    answer = app_members.invite(
                        work, caller(), found, current_user().id, form.username.data,
                        form.role.data,
                    )  # fmt: skip
            except FieldErrors as exc:
                apply_field_errors(form, exc)
            else:
                flash(answer, "success")
                return redirect(url_for("developer.members", client_id=client_id), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "portal/members.html",
        app=found,
        client=client,
        form=form,
        members=app_members.members(uow(), client),
        remove_form=ConfirmForm(),
    ), status


@bp.route("/invitations/<int:invitation_id>/<any(accept, decline):decision>", methods=["POST"])
def answer_invitation(invitation_id: int, decision: str):
    """Only the invitee may answer; anyone else finds no such invitation (404)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        with uow() as work:
            client = app_members.answer(
                work, caller(), current_user().id, invitation_id, accept=decision == "accept"
            )
    except FieldErrors:
        abort(404)
    if decision == "accept" and client is not None:
        flash(f"You are now a member of {client.name}.", "success")
        return redirect(url_for("developer.show", client_id=client.client_id), code=303)
    flash("The invitation was declined.", "success")
    return redirect(url_for("developer.index"), code=303)


@bp.route("/apps/<client_id>/members/<int:user_id>/remove", methods=["POST"])
def remove_member(client_id: str, user_id: int):
    found = my_app(client_id)
    owner_only(found)
    if ConfirmForm().validate_on_submit():
        try:
            with uow() as work:
                app_members.remove_member(work, caller(), found, current_user().id, user_id)
        except FieldErrors as exc:
            flash_errors(exc)
        else:
            flash("The member was removed.", "success")
    return redirect(url_for("developer.members", client_id=client_id), code=303)
