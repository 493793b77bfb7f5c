"""create_app: the composition root. Every adapter is built and wired here, and only here."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.config import PROJECT_ROOT, Settings, load_settings
from idp.domain.providers import ProviderCatalogue, load_providers
from idp.domain.scopes import ScopeCatalogue, load_catalogue
from idp.extensions import csrf, db
from idp.services.accounts import SessionPolicy
from idp.services.device_flow import DeviceFlow
from idp.services.mfa import Mfa
from idp.services.passkeys import RelyingParty
from idp.services.revocation import RevocationWindow
from idp.services.tokens import TokenMinter
from idp.storage.action_throttle import ActionThrottle
from idp.storage.keystore import KeyStore
from idp.storage.password_hasher import Argon2PasswordHasher
from idp.storage.redis_state import SharedRedis
from idp.storage.repositories.usage import UsageCounter
from idp.storage.revocation_outbox import RevocationOutbox
from idp.storage.secret_box import FernetSecretBox
from idp.storage.spa_origins import SpaOrigins
from idp.storage.throttle import LoginThrottle, RegistrationThrottle, UserCodeThrottle


@dataclass
class Tessera:
    """The wired adapters, reachable from views as ``current_app.extensions["tessera"]``."""

    settings: Settings
    catalogue: ScopeCatalogue
    hasher: Argon2PasswordHasher
    throttle: LoginThrottle
    register_throttle: RegistrationThrottle
    session_policy: SessionPolicy
    keystore: KeyStore
    minter: TokenMinter
    revocation_window: RevocationWindow
    device_flow: Any = None
    oauth: Any = None  # the Authlib authorization server, set once the app exists
    usage: UsageCounter | None = None
    redis: SharedRedis | None = None  # TESSERA_REDIS_URL: state shared by every process
    outbox: RevocationOutbox | None = None  # revocation events to the pushed channels
    spa_origins: Any = None  # origins SPA apps registered: CORS preflights (idp.domain.cors)
    mail_sender: Any = None  # idp.storage.mail_sender.MailSender: the mail outbox, delivered
    action_throttle: Any = None  # reset links, verification resends, e-mail changes
    mfa: Mfa | None = None  # second factors and passkeys (idp.services.mfa)
    providers: ProviderCatalogue | None = None  # upstream identity providers (providers.yaml)


def engine_options(settings: Settings) -> dict[str, Any]:
    """Bounded waits, so a database outage is a prompt 503 (idp.storage.outage), never a hang.

    pool_pre_ping finds connections PostgreSQL dropped (a restart) before a request uses one;
    SQLAlchemy also discards the whole pool when it sees a disconnect, so the first requests
    after the database comes back succeed.
    """
    if settings.DATABASE_URL.startswith("sqlite"):
        busy = settings.DB_STATEMENT_TIMEOUT / 1000 if settings.DB_STATEMENT_TIMEOUT else 30
        return {"connect_args": {"timeout": busy}}
    connect_args: dict[str, Any] = {"connect_timeout": settings.DB_CONNECT_TIMEOUT}
    if settings.DB_STATEMENT_TIMEOUT:
        connect_args["options"] = f"-c statement_timeout={settings.DB_STATEMENT_TIMEOUT}"
    return {
        "pool_pre_ping": True,
        "pool_timeout": settings.DB_CONNECT_TIMEOUT,
        "connect_args": connect_args,
    }


def _flask_config(settings: Settings) -> dict[str, Any]:
    return {
        "SECRET_KEY": settings.SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": settings.DATABASE_URL,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(settings),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "MAX_CONTENT_LENGTH": settings.MAX_CONTENT_LENGTH,
        "SESSION_COOKIE_NAME": "__Host-tessera" if settings.cookie_secure else "tessera",
        "SESSION_COOKIE_SECURE": settings.cookie_secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(seconds=settings.SESSION_ABSOLUTE_TTL),
        "WTF_CSRF_TIME_LIMIT": settings.SESSION_ABSOLUTE_TTL,
        "WTF_CSRF_SSL_STRICT": False,  # no Referer is sent (Referrer-Policy: no-referrer)
        "TEMPLATES_AUTO_RELOAD": not settings.is_production,
    }


def create_app(config: dict[str, Any] | None = None, *, migrations: bool = True) -> Flask:
    settings = load_settings(config)
    app = Flask(
        __name__,
        instance_path=settings.INSTANCE_PATH,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(_flask_config(settings))
    logging.basicConfig(level=logging.INFO)
    # Alembic logs its plugin set-up at every CLI start; migrations still log their steps.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    db.init_app(app)
    if migrations:
        # Alembic costs a worker ~11 MiB and serving never migrates: only the CLI and tests load it.
        from flask_migrate import Migrate

        Migrate(
            app,
            db,
            directory=str(PROJECT_ROOT / "migrations"),
            render_as_batch=True,
            compare_type=True,
        )
    csrf.init_app(app)
    import idp.storage.models  # noqa: F401 - every table registered for Alembic

    tessera = _wire(settings)
    app.extensions["tessera"] = tessera
    _wire_oauth(tessera)
    _ensure_signing_keys(app, tessera.keystore)
    _register_web(app)
    _wrap_wsgi(app, settings)
    from idp.cli import COMMANDS
    from idp.cli_clients import clients_group, keys_group
    from idp.cli_users import users_group
    from idp.cli_users_import import import_command

    users_group.add_command(import_command)
    for command in (*COMMANDS, clients_group, keys_group, users_group):
        app.cli.add_command(command)
    return app


def _wire(settings: Settings) -> Tessera:
    catalogue = load_catalogue(settings.SCOPES_FILE)
    keystore = KeyStore(
        settings.KEY_ENCRYPTION_KEY or settings.SECRET_KEY,
        settings.max_access_ttl,
        signing_algorithms(settings),
        publication_delay=settings.KEY_PUBLICATION_DELAY,
    )
    shared = SharedRedis(settings.REDIS_URL, settings.ISSUER) if settings.REDIS_URL else None
    return Tessera(
        settings=settings,
        catalogue=catalogue,
        hasher=Argon2PasswordHasher(
            settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST, settings.ARGON2_PARALLELISM
        ),
        throttle=LoginThrottle(shared, settings.LOGIN_ACCOUNT_LIMIT, settings.LOGIN_IP_LIMIT),
        register_throttle=RegistrationThrottle(shared, settings.REGISTER_IP_LIMIT),
        session_policy=SessionPolicy(settings.SESSION_IDLE_TTL, settings.SESSION_ABSOLUTE_TTL),
        keystore=keystore,
        minter=TokenMinter.from_settings(settings, keystore, catalogue),
        revocation_window=RevocationWindow(settings.max_access_ttl),
        usage=UsageCounter(settings.USAGE_FLUSH_INTERVAL),
        device_flow=DeviceFlow(settings, UserCodeThrottle(shared)),
        redis=shared,
        outbox=RevocationOutbox(shared, settings.REVOCATION_STREAM_MAXLEN),
        spa_origins=SpaOrigins(settings.CLIENT_CACHE_TTL),
        mail_sender=_mail_sender(settings),
        action_throttle=ActionThrottle(
            shared, settings.PASSWORD_RESET_ACCOUNT_LIMIT, settings.PASSWORD_RESET_IP_LIMIT
        ),
        mfa=_wire_mfa(settings, shared),
        providers=load_providers(settings.PROVIDERS_FILE, os.environ),
    )


def _wire_mfa(settings: Settings, shared: SharedRedis | None) -> Mfa:
    return Mfa(
        box=FernetSecretBox(settings.KEY_ENCRYPTION_KEY or settings.SECRET_KEY, "totp-secrets"),
        throttle=LoginThrottle(
            shared,
            settings.SECOND_FACTOR_ACCOUNT_LIMIT,
            settings.SECOND_FACTOR_IP_LIMIT,
            namespace="second_factor",
        ),
        rp=RelyingParty.from_issuer(settings.ISSUER),
        require_for_admins=settings.require_mfa_for_admins,
        pending_ttl=settings.MFA_PENDING_TTL,
    )


def _mail_sender(settings: Settings) -> Any:
    """SMTP with TESSERA_SMTP_URL; otherwise .eml files under instance/outbox/ (development)."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from idp.storage.mail_sender import MailSender
    from idp.storage.smtp_mailer import FileTransport, SmtpTransport

    domain = urlsplit(settings.ISSUER).hostname or "localhost"
    if settings.SMTP_URL:
        transport: Any = SmtpTransport(
            settings.SMTP_URL, settings.mail_from, domain, timeout=settings.SMTP_TIMEOUT
        )
    else:
        outbox = Path(settings.INSTANCE_PATH) / "outbox"
        transport = FileTransport(outbox, settings.mail_from, domain)
    return MailSender(transport)


def _wire_oauth(tessera: Tessera) -> None:
    """The authorization server, with the storage it needs handed in."""
    from idp.protocol.server import TesseraAuthorizationServer
    from idp.storage.client_cache import ClientPolicyCache, watch
    from idp.web.context import uow

    clients = watch(
        ClientPolicyCache(
            tessera.settings.CLIENT_CACHE_TTL,
            outage_grace=tessera.settings.OUTAGE_CLIENT_CACHE_GRACE,
        )
    )
    if tessera.redis is not None:
        from idp.storage.app_invalidation import follow_app_changes

        follow_app_changes(tessera.redis)  # other processes' app changes reach `clients`
    tessera.oauth = TesseraAuthorizationServer(tessera, clients=clients, uow=uow)
    if tessera.device_flow is not None:
        from idp.protocol.device_authorization import TesseraDeviceAuthorizationEndpoint

        tessera.oauth.register_endpoint(TesseraDeviceAuthorizationEndpoint)


def _ensure_signing_keys(app: Flask, keystore: KeyStore) -> None:
    with app.app_context():
        try:
            if keystore.ensure_keys():
                logging.getLogger(__name__).info("created signing keys")
        except SQLAlchemyError:
            # Before `tessera db upgrade` there is no table yet; the next start creates them.
            logging.getLogger(__name__).info(
                "no signing_keys table yet; keys are made at the first start after `db upgrade`"
            )
        finally:
            db.session.remove()


def signing_algorithms(settings: Settings) -> set[str]:
    """RS256 for ID tokens (OpenID requires it), plus the access token algorithm."""
    return {"RS256", settings.ACCESS_TOKEN_ALG}


def _web_blueprints() -> tuple[Any, ...]:
    """The identity provider's pages and endpoints, in registration order."""
    from idp.web import (
        account,
        account_data,
        account_sessions,
        auth,
        authorize,
        connected_apps,
        device,
        docs,
        federation,
        feed,
        home,
        mfa,
        oidc,
        public,
        recovery,
        security,
    )

    return (
        home.bp,
        auth.bp,
        account.bp,
        account_sessions.bp,
        account_data.bp,
        connected_apps.bp,
        authorize.bp,
        oidc.bp,
        feed.bp,
        public.bp,
        device.bp,
        docs.bp,
        recovery.bp,
        mfa.bp,
        security.bp,
        federation.bp,
    )


def _register_web(app: Flask) -> None:
    from idp.web import mfa
    from idp.web.edge import check_request_text
    from idp.web.errors import register_error_handlers
    from idp.web.headers import add_security_headers
    from idp.web.sessions import TesseraSessionInterface, current_user, load_login_session

    app.session_interface = TesseraSessionInterface()
    # Request text is checked before anything reads it (CSRF's own hook reads only its token).
    app.before_request_funcs.setdefault(None, []).insert(0, check_request_text)
    app.before_request(load_login_session)
    app.before_request(mfa.admin_enrolment_gate)
    app.after_request(add_security_headers)
    app.context_processor(lambda: {"current_user": current_user()})
    for blueprint in _web_blueprints():
        app.register_blueprint(blueprint)
    from portal import register_portal

    register_portal(app)
    register_error_handlers(app)


def _wrap_wsgi(app: Flask, settings: Settings) -> None:
    """The machine endpoints in front of Flask, and ProxyFix in front of both."""
    from idp.protocol.machine_endpoints import MachineEndpoints
    from idp.storage.outage import unavailable

    app.wsgi_app = MachineEndpoints(
        app,
        app.wsgi_app,
        session=db.session,
        unavailable=unavailable,
        spa_origins=app.extensions["tessera"].spa_origins,
    )
    if settings.TRUSTED_PROXIES:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.TRUSTED_PROXIES, x_proto=settings.TRUSTED_PROXIES
        )
