"""providers.yaml: validated at start-up, secrets only from TESSERA_* variables."""

from __future__ import annotations

import pytest

from idp.config import PROJECT_ROOT
from idp.domain.providers import ProviderCatalogueError, load_providers

ENV = {"TESSERA_DISCORD_CLIENT_ID": "123", "TESSERA_DISCORD_CLIENT_SECRET": "s3cret"}


def _load(tmp_path, text: str, environ=ENV):
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    return load_providers(path, environ)


def test_the_shipped_catalogue_loads_and_discord_is_off_without_its_secret():
    catalogue = load_providers(PROJECT_ROOT / "providers.yaml", {})
    assert len(catalogue) == 0 and catalogue.disabled == ("discord",)
    on = load_providers(PROJECT_ROOT / "providers.yaml", ENV).get("discord")
    assert on.client_id == "123" and on.client_secret == "s3cret"
    assert on.scopes == ("identify", "email")
    assert on.token_url == "https://discord.com/api/oauth2/token"
    assert on.userinfo_url == "https://discord.com/api/users/@me"


def test_endpoints_are_overridable_for_a_stand_in(tmp_path):
    text = """providers:
  discord: {kind: discord, client_id: c, client_secret_env: TESSERA_DISCORD_CLIENT_SECRET,
            token_url: "http://127.0.0.1:9/token"}
  corp: {kind: oidc, issuer: "https://sso.example.com/realm/", client_id: t,
         client_secret_env: TESSERA_DISCORD_CLIENT_SECRET}
"""
    catalogue = _load(tmp_path, text)
    assert catalogue.get("discord").token_url == "http://127.0.0.1:9/token"
    assert catalogue.get("corp").issuer == "https://sso.example.com/realm"
    assert catalogue.get("corp").scopes == ("openid", "email", "profile")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("providers: [1]", "must be a mapping of provider names"),
        ("other: 1", "only `providers`"),
        ("providers: {discord: {kind: discord, client_secret: x, client_secret_env: TESSERA_A}}",
         "never put a secret in the file"),
        ("providers: {discord: {kind: saml, client_secret_env: TESSERA_A}}", "kind must be one of"),
        ("providers: {discord: {kind: discord, client_secret_env: HOME}}", "TESSERA_*"),
        ("providers: {discord: {kind: discord, client_secret_env: TESSERA_A, colour: red}}",
         "unknown key(s) colour"),
        ("providers: {chat: {kind: discord, client_secret_env: TESSERA_A}}", "entry named discord"),
        ("providers: {corp: {kind: oidc, client_secret_env: TESSERA_A}}", "issuer must be a URL"),
        ("providers: {corp: {kind: oidc, issuer: 'http://sso.example.com', "
         "client_secret_env: TESSERA_A}}", "https URL"),
        ("providers: {corp: {kind: oidc, issuer: 'https://s.example', scopes: [email], "
         "client_secret_env: TESSERA_A}}", "must include openid"),
        ("providers: {Bad Name: {kind: oidc}}", "lowercase"),
        ("providers: {discord: {kind: discord, client_secret_env: TESSERA_DISCORD_CLIENT_SECRET}}",
         "has no client_id"),
        ("providers:\n  a1: {kind: oidc}\n  a1: {kind: oidc}", "duplicate key"),
    ],
)  # fmt: skip
def test_a_bad_file_stops_start_up_naming_the_problem(tmp_path, text, problem):
    with pytest.raises(ProviderCatalogueError, match=None) as caught:
        _load(tmp_path, text)
    assert problem in str(caught.value) and "providers.yaml" in str(caught.value)


def test_the_app_refuses_to_start_with_a_bad_catalogue(tmp_path):
    from idp import create_app

    bad = tmp_path / "providers.yaml"
    bad.write_text("providers: {discord: {kind: nope}}")
    with pytest.raises(ProviderCatalogueError, match="kind must be one of"):
        create_app({"SECRET_KEY": "x" * 40, "DATABASE_URL": "sqlite://",
                    "INSTANCE_PATH": str(tmp_path), "PROVIDERS_FILE": str(bad)}, migrations=False)  # fmt: skip
