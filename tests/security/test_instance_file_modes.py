"""Issue 12 item 16: what Tessera writes under instance/ is readable by its own user only
(ASVS 13.3.1, secrets protected at rest): files 0600, the folder 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from idp.config import load_settings
from idp.private_files import write_private
from tests.conftest import CHEAP_ARGON2


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The modes must come from Tessera, not from a careful operator's umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_asvs_13_3_generated_secret_and_folder_are_private(tmp_path, permissive_umask):
    instance = tmp_path / "instance"
    settings = load_settings({"INSTANCE_PATH": str(instance)}, environ={})
    assert _mode(instance) == 0o700
    assert _mode(instance / "secret_key") == 0o600
    assert f"sqlite:///{instance / 'tessera.db'}" == settings.DATABASE_URL
    assert _mode(instance / "tessera.db") == 0o600


def test_asvs_13_3_sqlite_database_stays_private_once_used(tmp_path, permissive_umask):
    instance = tmp_path / "instance"
    settings = load_settings({"INSTANCE_PATH": str(instance)}, environ={})
    engine = sa.create_engine(settings.DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(sa.text("PRAGMA journal_mode=WAL"))
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert all(_mode(p) == 0o600 for p in instance.iterdir())
    engine.dispose()
    assert {p.name for p in instance.iterdir()} >= {"tessera.db", "secret_key"}
    assert all(_mode(p) == 0o600 for p in instance.iterdir())


def test_asvs_13_3_existing_loose_modes_are_tightened(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    (instance / "secret_key").write_text("x" * 64)
    (instance / "tessera.db").write_bytes(b"")
    for path in (instance, instance / "secret_key", instance / "tessera.db"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    load_settings({"INSTANCE_PATH": str(instance)}, environ={})
    assert _mode(instance) == 0o700
    assert _mode(instance / "secret_key") == 0o600
    assert _mode(instance / "tessera.db") == 0o600


def test_asvs_13_3_write_private_never_exposes_the_content(tmp_path, permissive_umask):
    path = tmp_path / "instance" / "demo-credentials.txt"
    write_private(path, "alice: secret\n")
    write_private(path, "bob: secret\n", append=True)
    assert path.read_text() == "alice: secret\nbob: secret\n"
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    loose = tmp_path / "loose.json"
    loose.write_text("{}")
    loose.chmod(0o644)
    write_private(loose, '{"secret": 1}')
    assert _mode(loose) == 0o600


def test_asvs_13_3_demo_credentials_are_private(make_app, tmp_path, permissive_umask):
    from idp.cli import seed_demo

    app = make_app(**CHEAP_ARGON2)
    result = app.test_cli_runner().invoke(seed_demo)
    assert result.exit_code == 0, result.output
    path = Path(app.instance_path) / "demo-credentials.txt"
    assert path.exists() and _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
