"""Every Tessera setting in one place: its default, its ``TESSERA_*`` override, its validation.

``load_settings`` is called once by the app factory; a bad value stops start-up with a message
that names the setting, so an operator never finds out about a typo from a 500 at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idp.domain.smtp_url import parse_smtp_url
from idp.private_files import persistent_secret, private_file, private_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _setting(default: Any, doc: str, **extra: Any) -> Any:
    return field(default=default, metadata={"doc": doc, **extra})


@dataclass(frozen=True)
class Settings:
    ENV: str = _setting(
        "development", "`development` or `production`.", choices=("development", "production")
    )
    ISSUER: str = _setting(
        "http://127.0.0.1:5000", "The issuer URL; every token's `iss` and the discovery base."
    )
    DATABASE_URL: str = _setting("", "SQLAlchemy URL. Default: SQLite file `instance/tessera.db`.")
    SECRET_KEY: str = _setting(
        "",
        "Signs session cookies and CSRF tokens. Generated into `instance/` in development; required in production.",
    )
    KEY_ENCRYPTION_KEY: str = _setting(
        "", "Encrypts signing keys at rest. Default: derived from SECRET_KEY."
    )
    INSTANCE_PATH: str = _setting(
        str(DEFAULT_INSTANCE_PATH), "Folder for the SQLite database and generated secrets."
    )
    SCOPES_FILE: str = _setting(
        str(PROJECT_ROOT / "scopes.yaml"), "The scope catalogue and rate-limit tiers."
    )
    REDIS_URL: str = _setting(
        "",
        "Redis shared by every worker and instance: failure throttles count once for the deployment and app changes reach every process within a second (keys and channel prefixed per issuer). Empty: per-process counters, and other processes see app changes within TESSERA_CLIENT_CACHE_TTL. Unreachable: the same per-process fallback, logged once a minute, no failed request.",
    )
    SESSION_IDLE_TTL: int = _setting(
        1800, "Seconds of inactivity after which a login session ends.", minimum=60
    )
    SESSION_ABSOLUTE_TTL: int = _setting(
        36000, "Seconds after login at which a session ends regardless.", minimum=300
    )
    SESSION_COOKIE_SECURE: bool | None = _setting(
        None, "Secure + `__Host-` cookie. Default: on when ISSUER is https."
    )
    ARGON2_TIME_COST: int = _setting(2, "argon2id iterations (OWASP minimum 2).", minimum=1)
    ARGON2_MEMORY_COST: int = _setting(
        19456, "argon2id memory in KiB (OWASP minimum 19456).", minimum=8
    )
    ARGON2_PARALLELISM: int = _setting(1, "argon2id lanes.", minimum=1)
    LOGIN_ACCOUNT_LIMIT: str = _setting(
        "5/minute;20/hour", "Failed logins allowed per account (`limits` notation)."
    )
    LOGIN_IP_LIMIT: str = _setting(
        "30/minute;200/hour", "Failed logins allowed per client IP (`limits` notation)."
    )
    REGISTER_IP_LIMIT: str = _setting(
        "10/hour;50/day", "Accounts one client IP may register (`limits` notation)."
    )
    ACCESS_TOKEN_TTL: int = _setting(600, "Access token lifetime in seconds.", minimum=30)
    ID_TOKEN_TTL: int = _setting(600, "ID token lifetime in seconds.", minimum=30)
    AUTHORIZATION_CODE_TTL: int = _setting(
        300, "Authorization code lifetime (at most 600).", minimum=10, maximum=600
    )
    REFRESH_TOKEN_IDLE_TTL: int = _setting(
        30 * 86400, "A refresh token family unused this long expires.", minimum=60
    )
    REFRESH_TOKEN_ABSOLUTE_TTL: int = _setting(
        90 * 86400, "A refresh token family expires this long after the grant.", minimum=60
    )
    REFRESH_TOKEN_REUSE_GRACE: int = _setting(
        0,
        "Seconds after a rotation in which the same refresh token is refused without revoking its family (concurrent requests from one client). 0: any reuse revokes the family (RFC 9700 4.14.2); a grace lets a thief who replays the old token within it keep the family alive.",
        minimum=0,
        maximum=60,
    )
    DEVICE_CODE_TTL: int = _setting(600, "Device code lifetime in seconds.", minimum=60)
    DEVICE_POLL_INTERVAL: int = _setting(5, "Minimum seconds between device-flow polls.", minimum=1)
    ACCESS_TOKEN_AUDIENCE: str = _setting(
        "", "Default `aud` of access tokens. Default: ISSUER + `/api`."
    )
    ALLOWED_RESOURCES: str = _setting(
        "", "Extra RFC 8707 `resource` values clients may ask tokens for (space-separated URLs)."
    )
    ACCESS_TOKEN_ALG: str = _setting(
        "ES256", "Access token signing algorithm.", choices=("ES256", "RS256", "EdDSA")
    )
    KEY_PUBLICATION_DELAY: int = _setting(
        300,
        "Seconds between `tessera keys rotate` and the new key signing; until then it is only published in the JWKS. It must outlast every cache between a worker and a resource server: each worker's key reload (30 s) + the JWKS `Cache-Control: max-age` (60 s) + the middleware's refetch interval (60 s) = 150 s, doubled for other verifier libraries and clock skew. Shorter risks `401 unknown key` at resource servers right after a rotation.",
        minimum=0,
        maximum=86400,
    )
    REVOCATION_POLL_INTERVAL: int = _setting(
        5, "Poll interval hinted to resource servers by the revocation feed.", minimum=1
    )
    REVOCATION_STREAM_MAXLEN: int = _setting(
        10000,
        "Approximate length the Redis stream of revocation events is trimmed to (XADD MAXLEN ~); a consumer further behind reloads the feed's snapshot (docs/revocation-events.md).",
        minimum=100,
    )
    SSE_MAX_STREAMS: int = _setting(
        32,
        "Open revocation event streams (/oauth/revocations/stream) per worker; each holds a thread of a bounded pool. Beyond it: 503 with Retry-After.",
        minimum=1,
        maximum=64,
    )
    SSE_MAX_DURATION: int = _setting(
        300,
        "Seconds a revocation event stream stays open; then it ends and the client reconnects with Last-Event-ID.",
        minimum=10,
        maximum=3600,
    )
    CLIENT_CACHE_TTL: int = _setting(
        5,
        "Seconds a worker may reuse an app's settings without reading the database (0 turns the cache off); without TESSERA_REDIS_URL, changes reach every worker within this time.",
        minimum=0,
        maximum=300,
    )
    USAGE_FLUSH_INTERVAL: int = _setting(
        10,
        "Seconds between writes of the per-app token counters (the portal's usage chart).",
        minimum=0,
    )
    MAX_CONTENT_LENGTH: int = _setting(1024 * 1024, "Largest request body in bytes.", minimum=1024)
    TRUSTED_PROXIES: int = _setting(
        0, "How many reverse proxies set X-Forwarded-For in front of Tessera.", minimum=0
    )
    DB_STATEMENT_TIMEOUT: int = _setting(
        10000,
        "Milliseconds a database statement may run (PostgreSQL `statement_timeout`; SQLite's busy timeout) before it is cancelled and the request answered 503 with Retry-After. 0: no limit (for a long `tessera db upgrade`).",
        minimum=0,
        maximum=600000,
    )
    DB_CONNECT_TIMEOUT: int = _setting(
        3,
        "Seconds to wait for a new PostgreSQL connection, and for a free one from the pool, before answering 503.",
        minimum=2,
        maximum=60,
    )
    OUTAGE_CLIENT_CACHE_GRACE: int = _setting(
        300,
        "Seconds after an app's settings were last read during which client_credentials keeps issuing tokens from the cached copy while the database is unreachable (0: answer 503 at once). Such tokens reflect the app as it was up to this long ago.",
        minimum=0,
        maximum=3600,
    )
    # --- federation: upstream providers and token exchange (docs/federation.md) ---
    PROVIDERS_FILE: str = _setting(
        str(PROJECT_ROOT / "providers.yaml"),
        "The catalogue of upstream identity providers (Sign in with Discord, OpenID providers); secrets come from the TESSERA_* variables it names.",
    )
    UPSTREAM_TIMEOUT: int = _setting(
        10,
        "Seconds Tessera waits for an upstream provider (token, user, discovery and JWKS requests) before showing the user a clear failure page.",
        minimum=1,
        maximum=60,
    )
    TOKEN_EXCHANGE_TTL: int = _setting(
        300,
        "Lifetime in seconds of an access token issued by token exchange (RFC 8693) to a first-party app acting for a user.",
        minimum=30,
        maximum=3600,
    )

    # --- mail and account recovery (issue 13, docs/accounts.md) ---
    SMTP_URL: str = _setting(
        "",
        "Mail server: `smtp://host:port` (plain, for a local relay), `smtp+starttls://user:pass@host:587` (STARTTLS required) or `smtps://user:pass@host:465` (TLS). Empty: mails are written as .eml files under `instance/outbox/` and the log says where.",
    )
    MAIL_FROM: str = _setting(
        "", "The From address of Tessera's mails. Default: `Tessera <no-reply@<issuer host>>`."
    )
    SMTP_TIMEOUT: int = _setting(
        10, "Seconds the mail sender waits for the SMTP server.", minimum=1, maximum=120
    )
    EMAIL_VERIFICATION_TTL: int = _setting(
        86400, "Seconds an e-mail verification link stays valid.", minimum=600
    )
    PASSWORD_RESET_TTL: int = _setting(
        1800, "Seconds a password reset link stays valid.", minimum=300, maximum=86400
    )
    PASSWORD_RESET_ACCOUNT_LIMIT: str = _setting(
        "3/hour;10/day", "Reset links mailed per account (`limits` notation); more are not sent."
    )
    PASSWORD_RESET_IP_LIMIT: str = _setting(
        "10/hour;50/day", "Reset requests per client IP (`limits` notation); more get a 429."
    )
    UNVERIFIED_MAY_CONSENT: bool | None = _setting(
        None,
        "Whether an account whose e-mail is not verified may authorize apps. Default: yes in development, no in production (an app that trusts `email` must not get an unproven one).",
    )

    # --- second factors and passkeys (issue 13) ---
    REQUIRE_MFA_FOR_ADMINS: bool | None = _setting(
        None,
        "Admins without a second factor must set one up before using /admin. Default: on when ENV=production.",
    )
    MFA_PENDING_TTL: int = _setting(
        300,
        "Seconds between a correct password and the second factor after which the sign-in starts over.",
        minimum=30,
        maximum=3600,
    )
    SECOND_FACTOR_ACCOUNT_LIMIT: str = _setting(
        "5/minute;20/hour", "Wrong second-factor codes allowed per account (`limits` notation)."
    )
    SECOND_FACTOR_IP_LIMIT: str = _setting(
        "30/minute;200/hour", "Wrong second-factor codes allowed per client IP (`limits` notation)."
    )

    @property
    def is_production(self) -> bool:
        return self.ENV == "production"

    @property
    def unverified_may_consent(self) -> bool:
        if self.UNVERIFIED_MAY_CONSENT is not None:
            return self.UNVERIFIED_MAY_CONSENT
        return not self.is_production

    @property
    def mail_from(self) -> str:
        return self.MAIL_FROM or f"Tessera <no-reply@{urlsplit(self.ISSUER).hostname}>"

    @property
    def require_mfa_for_admins(self) -> bool:
        if self.REQUIRE_MFA_FOR_ADMINS is not None:
            return self.REQUIRE_MFA_FOR_ADMINS
        return self.is_production

    @property
    def cookie_secure(self) -> bool:
        if self.SESSION_COOKIE_SECURE is not None:
            return self.SESSION_COOKIE_SECURE
        return self.ISSUER.startswith("https://")

    @property
    def audience(self) -> str:
        return self.ACCESS_TOKEN_AUDIENCE or self.ISSUER.rstrip("/") + "/api"

    @property
    def resources(self) -> frozenset[str]:
        """Every audience an access token may be minted for."""
        return frozenset({self.audience, *self.ALLOWED_RESOURCES.split()})

    @property
    def max_access_ttl(self) -> int:
        """Longest lifetime any access or ID token can have (per-app overrides are capped at a day)."""
        return max(self.ACCESS_TOKEN_TTL, self.ID_TOKEN_TTL, 86400)


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) rows for the README table."""
    rows = []
    for f in fields(Settings):
        rows.append((f"TESSERA_{f.name}", repr(f.default), f.metadata["doc"]))
    return rows


def _parse(f: dataclasses.Field, raw: Any) -> Any:
    name = f"TESSERA_{f.name}"
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    if raw is None or not isinstance(raw, str):
        value = raw
    elif kind.startswith("int"):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    elif kind.startswith("bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            value = True
        elif lowered in ("0", "false", "no", "off"):
            value = False
        elif lowered == "":
            value = None
        else:
            raise ConfigError(f"{name} must be true or false, got {raw!r}")
    else:
        value = raw
    meta = f.metadata
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{name} must be one of {', '.join(meta['choices'])}; got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in meta and value < meta["minimum"]:
            raise ConfigError(f"{name} must be at least {meta['minimum']}; got {value}")
        if "maximum" in meta and value > meta["maximum"]:
            raise ConfigError(f"{name} must be at most {meta['maximum']}; got {value}")
    return value


def _check_issuer(issuer: str, production: bool) -> None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"TESSERA_ISSUER must be an http(s) URL without query or fragment; got {issuer!r}"
        )
    if production and parts.scheme != "https":
        raise ConfigError("TESSERA_ISSUER must use https when TESSERA_ENV=production")


def _check_mail(settings: Settings) -> None:
    if settings.SMTP_URL:
        try:
            address = parse_smtp_url(settings.SMTP_URL)
        except ValueError as exc:
            raise ConfigError(f"TESSERA_SMTP_URL: {exc}") from None
        loopback = address.host in ("localhost", "127.0.0.1", "::1")
        if address.scheme == "smtp" and address.password and not loopback:
            raise ConfigError(
                "TESSERA_SMTP_URL: smtp:// would send the password in clear to "
                f"{address.host}; use smtp+starttls:// or smtps://"
            )
    if "\n" in settings.MAIL_FROM or "\r" in settings.MAIL_FROM:
        raise ConfigError("TESSERA_MAIL_FROM must be one line")


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then ``TESSERA_*`` environment variables, then explicit overrides (tests)."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    known = {f.name: f for f in fields(Settings)}
    unknown = set(overrides) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name in overrides:
            values[name] = _parse(f, overrides[name])
        elif f"TESSERA_{name}" in environ:
            values[name] = _parse(f, environ[f"TESSERA_{name}"])
    settings = Settings(**values)
    _check_issuer(settings.ISSUER, settings.is_production)
    settings = _fill_derived(settings)
    return settings


def _fill_derived(settings: Settings) -> Settings:
    instance = Path(settings.INSTANCE_PATH)
    changes: dict[str, Any] = {}
    if not settings.SECRET_KEY:
        if settings.is_production:
            raise ConfigError("TESSERA_SECRET_KEY is required when TESSERA_ENV=production")
        changes["SECRET_KEY"] = persistent_secret(instance, "secret_key")
    elif len(settings.SECRET_KEY) < 32:
        raise ConfigError("TESSERA_SECRET_KEY must be at least 32 characters")
    if not settings.DATABASE_URL:
        # Created here so SQLite finds it 0600: its journal and WAL files copy the file's mode.
        private_file(private_folder(instance) / "tessera.db")
        changes["DATABASE_URL"] = f"sqlite:///{instance / 'tessera.db'}"
    elif not settings.DATABASE_URL.startswith(("sqlite:", "postgresql")):
        raise ConfigError("TESSERA_DATABASE_URL must be a sqlite:// or postgresql:// URL")
    if settings.DATABASE_URL.startswith("postgresql://"):
        changes["DATABASE_URL"] = (
            "postgresql+psycopg://" + settings.DATABASE_URL[len("postgresql://") :]
        )
    if settings.REDIS_URL and not settings.REDIS_URL.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("TESSERA_REDIS_URL must be a redis:// URL")
    if settings.REFRESH_TOKEN_ABSOLUTE_TTL < settings.REFRESH_TOKEN_IDLE_TTL:
        raise ConfigError(
            "TESSERA_REFRESH_TOKEN_ABSOLUTE_TTL must be at least TESSERA_REFRESH_TOKEN_IDLE_TTL"
        )
    if settings.SESSION_ABSOLUTE_TTL < settings.SESSION_IDLE_TTL:
        raise ConfigError("TESSERA_SESSION_ABSOLUTE_TTL must be at least TESSERA_SESSION_IDLE_TTL")
    _check_mail(settings)
    if not Path(settings.SCOPES_FILE).is_file():
        raise ConfigError(f"TESSERA_SCOPES_FILE: no such file {settings.SCOPES_FILE}")
    if not Path(settings.PROVIDERS_FILE).is_file():
        raise ConfigError(f"TESSERA_PROVIDERS_FILE: no such file {settings.PROVIDERS_FILE}")
    return dataclasses.replace(settings, **changes)
