"""Login state for the web layer: which user this browser is signed in as.

The signed Flask cookie carries only a random session token; the session itself lives in the
database, so it can be ended server-side (logout everywhere, account disabled, timeouts).
"""

from __future__ import annotations

from functools import wraps

from flask import g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from idp.services import accounts
from idp.storage.models import LoginSession, User
from idp.web.context import caller, tessera, uow

SESSION_KEY = "sid"


# Machine-to-machine endpoints never look at the browser session: skipping it spares the
# token endpoint a cookie parse and a database read per request.
SESSIONLESS_BLUEPRINTS = frozenset({"feed", "public"})  # and idp.protocol.machine_endpoints
SESSIONLESS_ENDPOINTS = frozenset({"oidc.discovery", "oidc.jwks", "oidc.userinfo", "home.health"})


def is_sessionless() -> bool:
    return _is_sessionless_endpoint(request.endpoint or "")


def _is_sessionless_endpoint(endpoint: str) -> bool:
    return (
        endpoint.rpartition(".")[0] in SESSIONLESS_BLUEPRINTS or endpoint in SESSIONLESS_ENDPOINTS
    )


class TesseraSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, not even opened on machine endpoints."""

    def __init__(self) -> None:
        self._sessionless_paths: frozenset[str] | None = None

    def sessionless_paths(self, app) -> frozenset[str]:
        # Flask opens the session before it matches the URL, so request.endpoint is not known
        # yet: decide by path, from the rules without variables.
        if self._sessionless_paths is None:
            self._sessionless_paths = frozenset(
                rule.rule
                for rule in app.url_map.iter_rules()
                if not rule.arguments and _is_sessionless_endpoint(rule.endpoint)
            )
        return self._sessionless_paths

    def open_session(self, app, request):
        if request.path in self.sessionless_paths(app):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        if not self.is_null_session(session):
            super().save_session(app, session, response)


def load_login_session() -> None:
    """before_request hook: sets g.user and g.login_session (both None when signed out)."""
    g.user, g.login_session = None, None
    if is_sessionless():
        return
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return
    with uow() as work:
        found = accounts.resume_session(work, tessera().session_policy, token)
    if found is None:
        session.pop(SESSION_KEY, None)
        return
    g.login_session, g.user = found


def current_user() -> User | None:
    return g.get("user")


def current_login_session() -> LoginSession | None:
    return g.get("login_session")


def sign_in(user: User, amr: str = "pwd") -> None:
    previous = session.get(SESSION_KEY)
    with uow() as work:
        token = accounts.open_session(
            work,
            caller(),
            user,
            previous_token=previous if isinstance(previous, str) else None,
            amr=amr,
        )
    # Keep a pending authorization request across the login; drop everything else.
    pending = {k: v for k, v in session.items() if k.startswith("pending_")}
    session.clear()
    session.update(pending)
    session[SESSION_KEY] = token
    session.permanent = True
    g.user = user


def sign_out() -> None:
    token = session.get(SESSION_KEY)
    user = current_user()
    if isinstance(token, str):
        with uow() as work:
            accounts.close_session(work, caller(), token, user.id if user else None)
    session.clear()
    g.user, g.login_session = None, None


def login_required(view):
    """Send signed-out visitors to the login page, then back here."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), code=303)
        return view(*args, **kwargs)

    return wrapper
