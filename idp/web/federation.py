"""Sign in with an upstream provider, link and unlink upstream accounts (docs/federation.md).

Thin: idp.protocol.upstream talks to the provider, idp.services.federation decides. Between
the redirects the session keeps the flow (state, PKCE verifier, nonce, where to go next) and,
once the provider has answered, the verified identity under a ``pending_`` key, which survives
the password sign-in (idp.web.sessions.sign_in) that the e-mail collision asks for: that sign-in
is the normal /login, so every step it has (a second factor included) applies.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from idp.errors import FieldErrors
from idp.protocol.upstream import Flow, UpstreamClient, UpstreamFailed
from idp.services import federation
from idp.services.federation import FederationRefused, UpstreamIdentity
from idp.web.context import caller, tessera, uow
from idp.web.forms import ConfirmForm, apply_field_errors
from idp.web.mfa import hold_for_second_factor
from idp.web.safe_next import safe_next
from idp.web.sessions import current_user, login_required, sign_in

bp = Blueprint("federation", __name__)
log = logging.getLogger(__name__)

FLOW_KEY = "upstream_flow"
PENDING_KEY = "pending_upstream"  # "pending_": kept across sign_in
PENDING_TTL = 900  # seconds an upstream answer waits for the username or the password


class UsernameForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(min=3, max=32)])


@bp.app_context_processor
def upstream_buttons() -> dict:
    """The sign-in and registration pages show one button per configured provider."""
    catalogue = tessera().providers
    return {"upstream_providers": list(catalogue) if catalogue else []}


def _provider(name: str):
    provider = tessera().providers.get(name) if tessera().providers else None
    if provider is None:
        abort(404)
    return provider


def _client(provider) -> UpstreamClient:
    issuer = tessera().settings.ISSUER.rstrip("/")
    callback = issuer + url_for("federation.callback", name=provider.name)
    return UpstreamClient(provider, callback, tessera().settings.UPSTREAM_TIMEOUT)


def _failed(message: str, status: int = 502):
    return render_template("idp/federation_failed.html", message=message), status


RACED = FederationRefused("This account was linked a moment ago by another request. Start again.")


def _linking(action):
    """Run a linking use case; two requests racing for one upstream account meet the unique
    constraints (idp.storage.models.federation): the loser gets the refusal page, not a 500."""
    try:
        return action()
    except IntegrityError:
        uow().rollback()
        raise RACED from None


def _start(name: str, intent: str, next_url: str, *, leave_by_page: bool = False):
    provider = _provider(name)
    try:
        url, flow = _client(provider).start()
    except UpstreamFailed as exc:
        log.warning("upstream %s: %s", name, exc.reason)
        return _failed(str(exc))
    session[FLOW_KEY] = {**flow.as_dict(), "next": next_url, "intent": intent}
    if leave_by_page:
        return render_template("idp/federation_leaving.html", url=url, label=provider.label)
    return redirect(url, code=303)


@bp.route("/login/upstream/<name>")
def start(name: str):
    """Sign in (or register) with the provider; `next` may be a pending authorization request."""
    return _start(name, "login", safe_next(request.args.get("next")))


@bp.route("/account/linked/<name>/link", methods=["POST"])
@login_required
def start_link(name: str):
    """The CSRF-checked Link button. The browser goes on from a page, not by a redirect: a
    form's redirect chain to the provider would be blocked by CSP form-action 'self'."""
    _provider(name)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _start(name, "link", url_for("federation.linked"), leave_by_page=True)


@bp.route("/login/upstream/<name>/callback")
def callback(name: str):
    provider = _provider(name)
    saved = session.pop(FLOW_KEY, None)
    flow = Flow.from_dict(saved)
    if flow is None or flow.provider != name:
        return _failed("This sign-in attempt expired or was not started here. Start again.", 400)
    try:
        identity = _client(provider).finish(flow, request.args.to_dict())
    except UpstreamFailed as exc:
        log.warning("upstream %s: %s", name, exc.reason)
        return _failed(str(exc), 400 if "state" in exc.reason else 502)
    next_url = safe_next(saved.get("next"))
    try:
        if saved.get("intent") == "link" and current_user() is not None:
            with uow() as work:
                _linking(lambda: federation.link(work, caller(), current_user(), identity))
            flash(f"Your {provider.label} account is linked.", "success")
            return redirect(url_for("federation.linked"), code=303)
        return _after_sign_in(identity, next_url)
    except FederationRefused as exc:
        return _failed(str(exc), 409)


def _after_sign_in(identity: UpstreamIdentity, next_url: str):
    with uow() as work:
        outcome = federation.upstream_sign_in(work, caller(), identity)
    if isinstance(outcome, federation.SignedIn):
        # The upstream account stands in for the password, not for the second factor.
        held = hold_for_second_factor(outcome.user, next_url, amr="fed")
        if held is not None:
            return held
        sign_in(outcome.user, amr="fed")
        return redirect(next_url, code=303)
    pending = {"identity": identity.as_dict(), "next": next_url, "at": int(time.time())}
    if isinstance(outcome, federation.PasswordFirst):
        session[PENDING_KEY] = {**pending, "user_id": outcome.user_id}
        flash("An account with this e-mail exists. Sign in to it to link your "
              f"{_label(identity)} account.", "info")  # fmt: skip
        return redirect(url_for("auth.login", next=url_for("federation.complete_link")), code=303)
    session[PENDING_KEY] = pending
    return redirect(url_for("federation.choose_username"), code=303)


def _label(identity: UpstreamIdentity) -> str:
    provider = tessera().providers.get(identity.provider)
    return provider.label if provider else identity.provider


def _pending() -> tuple[UpstreamIdentity | None, dict]:
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or not isinstance(data.get("at"), int):
        return None, {}
    if time.time() - data["at"] > PENDING_TTL:
        session.pop(PENDING_KEY, None)
        return None, {}
    return UpstreamIdentity.from_dict(data.get("identity")), data


@bp.route("/login/upstream/username", methods=["GET", "POST"])
def choose_username():
    identity, data = _pending()
    if identity is None or "user_id" in data:
        return _failed("This sign-in attempt expired. Start again.", 400)
    form = UsernameForm()
    status = 200
    if form.validate_on_submit():
        try:
            with uow() as work:
                user = _linking(
                    lambda: federation.create_account(work, caller(), identity, form.username.data)
                )
        except FieldErrors as exc:
            apply_field_errors(form, exc)
            status = 400
        except FederationRefused as exc:
            session.pop(PENDING_KEY, None)
            return _failed(str(exc), 409)
        else:
            session.pop(PENDING_KEY, None)
            sign_in(user, amr="fed")
            return redirect(safe_next(data.get("next")), code=303)
    elif request.method == "POST":
        status = 400
    else:
        form.username.data = identity.username[:32]  # a suggestion, checked when submitted
    page = render_template(
        "idp/federation_username.html", form=form, identity=identity, label=_label(identity)
    )
    return page, status


@bp.route("/login/upstream/complete")
@login_required
def complete_link():
    """Back from the password sign-in the e-mail collision asked for: link, to that account."""
    identity, data = _pending()
    session.pop(PENDING_KEY, None)
    if identity is None or not isinstance(data.get("user_id"), int):
        return _failed("This linking attempt expired. Start again from your account page.", 400)
    try:
        with uow() as work:
            _linking(
                lambda: federation.complete_pending_link(
                    work, caller(), current_user(), identity, data["user_id"]
                )
            )
    except FederationRefused as exc:
        return _failed(str(exc), 409)
    flash(f"Your {_label(identity)} account is linked: you can sign in with it now.", "success")
    return redirect(safe_next(data.get("next")), code=303)


@bp.route("/account/linked")
@login_required
def linked():
    user = current_user()
    links = federation.links_of(uow(), user.id)
    linked_names = {link.provider for link in links}
    providers = list(tessera().providers or [])
    return render_template(
        "account/linked.html",
        links=links,
        labels={p.name: p.label for p in providers},
        can_link=[p for p in providers if p.name not in linked_names],
        has_password=federation.has_password(user),
        form=ConfirmForm(),
    )


@bp.route("/account/linked/<name>/unlink", methods=["POST"])
@login_required
def unlink(name: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        with uow() as work:
            federation.unlink(work, caller(), current_user(), name)
    except FederationRefused as exc:
        flash(str(exc), "error")
    else:
        flash("The account is unlinked.", "success")
    return redirect(url_for("federation.linked"), code=303)
