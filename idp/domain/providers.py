"""The catalogue of upstream identity providers, loaded from ``providers.yaml``.

Data, like scopes.yaml: a malformed file stops start-up with a message naming the file, the
entry and the problem. Secrets never live in the file: an entry names the ``TESSERA_*``
environment variable that holds its client secret, and a provider whose secret is not set is
simply off (no button), so the shipped catalogue starts without any upstream configured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from idp.domain.clients import is_loopback_host
from idp.domain.scopes import _UniqueKeyLoader

KINDS = ("discord", "oidc")
DISCORD_DEFAULTS = {
    "authorize_url": "https://discord.com/oauth2/authorize",
    "token_url": "https://discord.com/api/oauth2/token",
    "userinfo_url": "https://discord.com/api/users/@me",
}
COMMON_KEYS = {"kind", "label", "client_id", "client_id_env", "client_secret_env", "scopes"}
KIND_KEYS = {
    "discord": COMMON_KEYS | set(DISCORD_DEFAULTS),
    "oidc": COMMON_KEYS | {"issuer"},
}
DEFAULT_SCOPES = {"discord": ("identify", "email"), "oidc": ("openid", "email", "profile")}
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_ENV = re.compile(r"^TESSERA_[A-Z0-9_]+$")


class ProviderCatalogueError(ValueError):
    """providers.yaml is malformed; the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class Provider:
    name: str  # the URL segment and the link's `provider` column: /login/upstream/<name>
    kind: str  # "discord" or "oidc"
    label: str  # "Sign in with <label>"
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    issuer: str = ""  # oidc: discovery at <issuer>/.well-known/openid-configuration
    authorize_url: str = ""  # discord: the three endpoints (overridable for a stand-in)
    token_url: str = ""
    userinfo_url: str = ""


@dataclass(frozen=True)
class ProviderCatalogue:
    providers: dict[str, Provider]  # only the enabled ones (secret set)
    disabled: tuple[str, ...] = ()  # named in the file, no secret in the environment

    def get(self, name: str) -> Provider | None:
        return self.providers.get(name) if isinstance(name, str) else None

    def __iter__(self):
        return iter(self.providers.values())

    def __len__(self) -> int:
        return len(self.providers)


def _fail(path: Path, where: str, problem: str) -> ProviderCatalogueError:
    return ProviderCatalogueError(f"{path}: {where}: {problem}")


def _check_url(path: Path, where: str, key: str, url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise _fail(path, where, f"{key} must be a URL")
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback_host(parts.hostname)
    )
    if not secure or not parts.hostname or parts.fragment:
        raise _fail(path, where, f"{key} must be an https URL (http only on loopback), got {url!r}")
    return url


def _env_name(path: Path, where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not _ENV.match(value):
        raise _fail(path, where, f"{key} must name a TESSERA_* environment variable")
    return value


def _scopes(path: Path, where: str, kind: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_SCOPES[kind]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise _fail(path, where, "scopes must be a non-empty list of scope names")
    if kind == "oidc" and "openid" not in value:
        raise _fail(path, where, "an OpenID provider's scopes must include openid")
    return tuple(value)


def _parse(path: Path, name: Any, body: Any, environ: Mapping[str, str]) -> Provider | None:
    where = f"providers.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(path, where, "a provider name is 2-32 lowercase letters, digits or dashes")
    if not isinstance(body, dict):
        raise _fail(path, where, "must be a mapping with at least kind")
    if "client_secret" in body:
        raise _fail(path, where, "never put a secret in the file: use client_secret_env")
    kind = body.get("kind")
    if kind not in KINDS:
        raise _fail(path, where, f"kind must be one of {', '.join(KINDS)}")
    if kind == "discord" and name != "discord":
        # The discord scope's claims and token exchange's subject type name the link "discord".
        raise _fail(path, where, "the discord kind must be the entry named discord")
    extra = set(body) - KIND_KEYS[kind]
    if extra:
        raise _fail(path, where, f"unknown key(s) {', '.join(sorted(map(str, extra)))}")
    label = body.get("label", name.capitalize())
    if not isinstance(label, str) or not label.strip() or len(label) > 40:
        raise _fail(path, where, "label must be a short non-empty name")
    secret_env = _env_name(path, where, "client_secret_env", body.get("client_secret_env"))
    scopes = _scopes(path, where, kind, body.get("scopes"))
    urls: dict[str, str] = {}
    if kind == "discord":
        for key, default in DISCORD_DEFAULTS.items():
            urls[key] = _check_url(path, where, key, body.get(key, default))
    else:
        urls["issuer"] = _check_url(path, where, "issuer", body.get("issuer")).rstrip("/")
    client_id = body.get("client_id")
    if "client_id_env" in body:
        client_id = environ.get(_env_name(path, where, "client_id_env", body["client_id_env"]))
    elif client_id is not None and not isinstance(client_id, str):
        raise _fail(path, where, "client_id must be a string")
    secret = environ.get(secret_env, "")
    if not secret:
        return None  # off until the operator sets the secret
    if not client_id:
        raise _fail(path, where, f"{secret_env} is set but the provider has no client_id")
    return Provider(
        name=name, kind=kind, label=label.strip(), client_id=client_id, client_secret=secret,
        scopes=scopes, **urls,
    )  # fmt: skip


def load_providers(path: str | Path, environ: Mapping[str, str]) -> ProviderCatalogue:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except OSError as exc:
        raise ProviderCatalogueError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProviderCatalogueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"providers"}:
        raise _fail(path, "top level", "must be a mapping with only `providers`")
    raw = data.get("providers") or {}
    if not isinstance(raw, dict):
        raise _fail(path, "providers", "must be a mapping of provider names to entries")
    enabled, disabled = {}, []
    for name, body in raw.items():
        provider = _parse(path, name, body, environ)
        if provider is None:
            disabled.append(name)
        else:
            enabled[name] = provider
    return ProviderCatalogue(enabled, tuple(disabled))
