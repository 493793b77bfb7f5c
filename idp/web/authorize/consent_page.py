"""The consent page: who asks, for what, and a CSP that lets the Allow button leave for the app."""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import urlsplit

from flask import Response, render_template, session, url_for

from idp.domain.clients import ClientPolicy
from idp.web.authorize.pipeline import MalformedRequest
from idp.web.context import tessera, uow
from idp.web.forms import ConfirmForm
from idp.web.headers import CSP
from idp.web.sessions import current_user

PENDING_KEY = "pending_consent"
_INERT = re.compile(r"[A-Za-z0-9.+\-:\[\]]+", re.ASCII)  # nothing that ends or adds a CSP directive


def remember_pending(params: dict[str, str]) -> str:
    """The request waits in the session for the consent POST, under an id the form echoes."""
    pending_id = secrets.token_urlsafe(16)
    session[PENDING_KEY] = {"id": pending_id, "params": params, "at": int(time.time())}
    return pending_id


def pending_request(form_valid: bool) -> dict:
    """The request the consent form answers, while the session still holds it."""
    pending = session.get(PENDING_KEY)
    if not form_valid or not isinstance(pending, dict):
        raise MalformedRequest("This consent form has expired. Go back to the app and start again.")
    return pending


def check_pending_id(pending: dict, pending_id: str) -> None:
    """A form from another tab or another request must not approve this one."""
    if not secrets.compare_digest(str(pending.get("id")), pending_id):
        raise MalformedRequest("This consent form does not belong to the pending request.")


def forget_pending() -> None:
    session.pop(PENDING_KEY, None)


def form_action_source(registered_uri: str) -> str:
    """The CSP source for the app's registered redirect URI, never for the request's text.

    A loopback registration stands for any port (RFC 8252 7.3), hence `:*`. The registration
    was checked when it was saved (no userinfo, spaces or wildcards), so its parts are inert.
    """
    target = urlsplit(registered_uri)
    if not _INERT.fullmatch(target.scheme + target.netloc):
        return ""  # registered before hosts were checked: the browser then blocks the redirect
    if target.scheme == "https":
        return f"https://{target.netloc}"
    if target.scheme == "http":
        host = f"[{target.hostname}]" if ":" in (target.hostname or "") else target.hostname
        return f"http://{host}:*"
    return f"{target.scheme}:"


def consent_page(
    policy: ClientPolicy,
    params: dict[str, str],
    registered_uri: str,
    scopes: tuple[str, ...],
    missing: list[str],
) -> Response:
    work = uow()
    client = work.clients.by_client_id(policy.client_id)
    owner = work.users.get(client.owner_id) if client.owner_id else None
    catalogue = tessera().catalogue
    rows = [(catalogue.scopes[s], s in missing) for s in scopes if s in catalogue.scopes]
    html = render_template(
        "idp/consent.html",
        client=client,
        owner=owner,
        scope_rows=rows,
        pending_id=remember_pending(params),
        form=ConfirmForm(),
        user=current_user(),
        # "Not you?" signs out and comes back to this same request (a GET, rebuilt from its
        # checked parameters, so it is a path on this server).
        # url_for reads `_external`, `_anchor`... as its own options: no request text there.
        not_you=url_for(
            "oauth_authorize.authorize", **{k: v for k, v in params.items() if k[:1] != "_"}
        ),
    )
    response = Response(html)
    # The Allow button's redirect leaves for the app: form-action must allow its origin.
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {form_action_source(registered_uri)}".rstrip()
    )
    return response
