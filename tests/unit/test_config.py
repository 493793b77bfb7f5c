"""Settings: defaults, TESSERA_* overrides, and start-up errors that name the setting."""

from __future__ import annotations

import pytest

from idp.config import ConfigError, describe_settings, load_settings


def test_defaults_generate_and_keep_a_secret_key(tmp_path):
    first = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    second = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY == second.SECRET_KEY
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert f"sqlite:///{tmp_path / 'tessera.db'}" == first.DATABASE_URL


def test_environment_overrides(tmp_path):
    env = {
        "TESSERA_ACCESS_TOKEN_TTL": "120",
        "TESSERA_INSTANCE_PATH": str(tmp_path),
        "TESSERA_SESSION_COOKIE_SECURE": "yes",
    }
    settings = load_settings(environ=env)
    assert settings.ACCESS_TOKEN_TTL == 120
    assert settings.cookie_secure is True


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TESSERA_ACCESS_TOKEN_TTL": "soon"}, "TESSERA_ACCESS_TOKEN_TTL"),
        ({"TESSERA_ACCESS_TOKEN_TTL": "1"}, "TESSERA_ACCESS_TOKEN_TTL"),
        ({"TESSERA_AUTHORIZATION_CODE_TTL": "3600"}, "TESSERA_AUTHORIZATION_CODE_TTL"),
        ({"TESSERA_ENV": "staging"}, "TESSERA_ENV"),
        ({"TESSERA_ISSUER": "ftp://x"}, "TESSERA_ISSUER"),
        ({"TESSERA_DATABASE_URL": "mysql://x"}, "TESSERA_DATABASE_URL"),
        (
            {"TESSERA_ENV": "production", "TESSERA_ISSUER": "https://id.example.com"},
            "TESSERA_SECRET_KEY",
        ),
        ({"TESSERA_ENV": "production", "TESSERA_SECRET_KEY": "x" * 40}, "TESSERA_ISSUER"),
        ({"TESSERA_SECRET_KEY": "short"}, "TESSERA_SECRET_KEY"),
        ({"TESSERA_SCOPES_FILE": "/nonexistent.yaml"}, "TESSERA_SCOPES_FILE"),
        ({"TESSERA_SESSION_COOKIE_SECURE": "maybe"}, "TESSERA_SESSION_COOKIE_SECURE"),
    ],
)
def test_bad_setting_is_named(tmp_path, env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(environ={"TESSERA_INSTANCE_PATH": str(tmp_path), **env})


def test_unknown_override_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="NOPE"):
        load_settings({"NOPE": 1, "INSTANCE_PATH": str(tmp_path)}, environ={})


def test_postgres_url_uses_psycopg(tmp_path):
    settings = load_settings(
        environ={
            "TESSERA_INSTANCE_PATH": str(tmp_path),
            "TESSERA_DATABASE_URL": "postgresql://u@h/db",
        }
    )
    assert settings.DATABASE_URL == "postgresql+psycopg://u@h/db"


def test_every_setting_is_documented():
    rows = describe_settings()
    assert all(name.startswith("TESSERA_") and doc for name, _default, doc in rows)
