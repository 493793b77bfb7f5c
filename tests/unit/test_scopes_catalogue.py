"""scopes.yaml: the shipped catalogue loads; malformed files stop start-up with a precise message."""

from __future__ import annotations

import textwrap

import pytest

from idp.config import PROJECT_ROOT
from idp.domain.scopes import CatalogueError, load_catalogue

VALID = """
scopes:
  openid: {description: Sign you in., claims: [sub]}
  orders:write: {description: Change orders., restricted: true}
tiers:
  default: {rps: 3, burst: 10}
"""


def write(tmp_path, text):
    path = tmp_path / "scopes.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_catalogue_loads():
    catalogue = load_catalogue(PROJECT_ROOT / "scopes.yaml")
    assert {
        "openid",
        "profile",
        "email",
        "offline_access",
        "orders:read",
        "orders:write",
        "ws:connect",
    } <= set(catalogue.scopes)
    assert catalogue.tier("default").rps == 3 and catalogue.tier("default").burst == 10
    assert catalogue.tier("partner").rps == 50
    assert catalogue.scopes["orders:write"].restricted
    assert catalogue.claims_for(["openid", "email"]) == {"sub", "email", "email_verified"}


def test_valid_minimal_file(tmp_path):
    catalogue = load_catalogue(write(tmp_path, VALID))
    assert catalogue.restricted(["openid", "orders:write"]) == ["orders:write"]
    assert catalogue.unknown(["openid", "nope"]) == ["nope"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scopes: [unclosed", "not valid YAML"),
        (VALID + "\nextra: 1\n", "unknown key(s) extra"),
        (
            VALID.replace("claims: [sub]", "claims: [sub], colour: red"),
            "scopes.openid: unknown key(s) colour",
        ),
        (
            VALID.replace(
                "orders:write: {description: Change orders., restricted: true}",
                "openid: {description: Again.}",
            ),
            "duplicate key 'openid'",
        ),
        (
            VALID.replace("{rps: 3, burst: 10}", "{burst: 10}"),
            "tiers.default: rps must be a positive number",
        ),
        (
            VALID.replace("{rps: 3, burst: 10}", "{rps: fast, burst: 10}"),
            "tiers.default: rps must be a positive number",
        ),
        (
            VALID.replace("restricted: true", "restricted: maybe"),
            "scopes.orders:write: restricted must be true or false",
        ),
        (VALID.replace("claims: [sub]", "claims: [shoe_size]"), "unknown claim(s) shoe_size"),
        (VALID.replace("Change orders.", '""'), "description must be a non-empty sentence"),
        (VALID + "\ndefault_tier: gold\n", "default_tier: names no tier"),
    ],
)
def test_malformed_file_names_file_entry_and_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CatalogueError) as excinfo:
        load_catalogue(path)
    assert str(path) in str(excinfo.value)
    assert message in str(excinfo.value)


def test_app_refuses_to_start_with_malformed_catalogue(tmp_path):
    from idp import create_app

    path = write(tmp_path, "scopes: {}\ntiers: {}\n")
    with pytest.raises(CatalogueError, match="scopes"):
        create_app(
            {
                "SCOPES_FILE": str(path),
                "INSTANCE_PATH": str(tmp_path),
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            }
        )
