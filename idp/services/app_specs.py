"""What a valid app registration is: the spec the portal, the management API and the CLI fill in."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

from idp.domain.clients import APP_TYPES, CLIENT_CREDENTIALS, check_redirect_uris
from idp.domain.scopes import ScopeCatalogue
from idp.errors import FieldErrors


@dataclass
class ClientSpec:
    name: str
    app_type: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    description: str = ""
    homepage_url: str = ""
    privacy_url: str = ""
    tos_url: str = ""
    tier: str | None = None
    require_pkce: bool = True
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None


def _check_url(value: str, label: str, errors: dict[str, list[str]], key: str) -> None:
    if value and not value.startswith("https://") and not value.startswith("http://127.0.0.1"):
        errors.setdefault(key, []).append(f"{label} must be an https URL.")
    if len(value) > 500:
        errors.setdefault(key, []).append(f"{label} is longer than 500 characters.")


def _check_redirects(spec: ClientSpec, errors: dict[str, list[str]]) -> None:
    app_type = APP_TYPES[spec.app_type]
    uris, bad = check_redirect_uris(spec.redirect_uris, spec.app_type)
    if bad:
        errors["redirect_uris"] = bad
    elif app_type.redirects and not uris:
        errors["redirect_uris"] = ["Register at least one redirect URI."]
    elif not app_type.redirects and uris:
        errors["redirect_uris"] = ["This app type does not use redirect URIs."]
    spec.redirect_uris = uris
    logout_uris, bad = check_redirect_uris(spec.post_logout_redirect_uris, spec.app_type)
    if bad:
        errors["post_logout_redirect_uris"] = bad
    spec.post_logout_redirect_uris = logout_uris


def acts_for_itself(app_type: str) -> bool:
    """An app whose only grant is client_credentials: its tokens carry machine scopes only."""
    return APP_TYPES[app_type].grant_types == (CLIENT_CREDENTIALS,)


def scope_problems(
    app_type: str, scopes: list[str], catalogue: ScopeCatalogue, *, allow_restricted: bool
) -> list[str]:
    """Why an app of this type may not hold these scopes: the one rule for creating an app,
    editing it, asking for more (access requests) and approving what was asked."""
    problems = []
    unknown = catalogue.unknown(scopes)
    if unknown:
        problems.append(f"Unknown scope(s): {', '.join(unknown)}.")
    restricted = catalogue.restricted(scopes)
    if restricted and not allow_restricted:
        problems.append(f"Restricted scope(s) need an admin's approval: {', '.join(restricted)}.")
    if acts_for_itself(app_type):
        user_scopes = [
            s for s in scopes if s in catalogue.scopes and not catalogue.scopes[s].machine
        ]
        if user_scopes:
            problems.append(
                f"A service acts for itself and cannot hold user scopes: {', '.join(user_scopes)}."
            )
    return problems


def held_scopes(app_type: str, allowed: list[str], catalogue: ScopeCatalogue) -> list[str]:
    """The allowed scopes a token of this app can carry, as the token endpoint decides it (a
    client_credentials token carries machine scopes only): what the portal shows as held."""
    known = [s for s in allowed if s in catalogue.scopes]
    if acts_for_itself(app_type):
        return [s for s in known if catalogue.scopes[s].machine]
    return known


def _check_scopes(
    spec: ClientSpec,
    catalogue: ScopeCatalogue,
    allow_restricted: bool,
    errors: dict[str, list[str]],
) -> None:
    scopes = list(dict.fromkeys(spec.scopes))
    problems = scope_problems(spec.app_type, scopes, catalogue, allow_restricted=allow_restricted)
    if problems:
        errors["scopes"] = problems
    spec.scopes = scopes


def _check_details(
    spec: ClientSpec, catalogue: ScopeCatalogue, errors: dict[str, list[str]]
) -> None:
    if spec.tier is not None and spec.tier not in catalogue.tiers:
        errors["tier"] = [
            f"Unknown tier {spec.tier!r}; choose one of: {', '.join(catalogue.tiers)}."
        ]
    for label, key in (
        ("Homepage", "homepage_url"),
        ("Privacy policy", "privacy_url"),
        ("Terms", "tos_url"),
    ):
        _check_url(getattr(spec, key).strip(), label, errors, key)
    if spec.access_token_ttl is not None and not 60 <= spec.access_token_ttl <= 86400:
        errors["access_token_ttl"] = [
            "An access token lifetime must be between 60 seconds and a day."
        ]
    if spec.refresh_token_ttl is not None and not 3600 <= spec.refresh_token_ttl <= 365 * 86400:
        errors["refresh_token_ttl"] = [
            "A refresh token lifetime must be between an hour and a year."
        ]
    if len(spec.description) > 2000:
        errors["description"] = ["Keep the description under 2000 characters."]


def validate_spec(
    spec: ClientSpec, catalogue: ScopeCatalogue, *, allow_restricted: bool
) -> ClientSpec:
    """The spec, normalised, or FieldErrors with every problem keyed by field."""
    errors: dict[str, list[str]] = {}
    spec.name = spec.name.strip()
    if not 1 <= len(spec.name) <= 100:
        errors["name"] = ["Give the app a name of 1 to 100 characters."]
    if spec.app_type not in APP_TYPES:
        errors["app_type"] = [f"Choose one of: {', '.join(APP_TYPES)}."]
        raise FieldErrors(errors)
    _check_redirects(spec, errors)
    _check_scopes(spec, catalogue, allow_restricted, errors)
    _check_details(spec, catalogue, errors)
    if errors:
        raise FieldErrors(errors)
    return spec


CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def new_client_id() -> str:
    """24 letters and digits: no "-" that a shell or CLI would read as an option, no "_" to misread."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(24))
