"""Fixtures for fault tests: Tessera on a PostgreSQL cluster of its own, which tests stop and start.

``pg_cluster`` is one throwaway cluster per test session (tests.faults.pg_cluster), migrated once;
``fault_app`` builds an app on it. Each test finds the cluster running and leaves it running,
whatever it did to it; its tables are emptied after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from idp import create_app
from idp.extensions import db
from idp.storage.outage import OUTAGES
from tests.conftest import _empty_tables, _reset_schema, base_config
from tests.faults.pg_cluster import PgCluster, available


@pytest.fixture(autouse=True)
def no_outage_seen() -> Iterator[None]:
    """Each test starts and ends with no database failure remembered by this process."""
    OUTAGES.forget()
    yield
    OUTAGES.forget()


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """A migrated throwaway cluster (never the machine's shared PostgreSQL)."""
    from flask_migrate import upgrade

    reason = available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the fault tests: no throwaway PostgreSQL cluster: {reason}")
        pytest.skip(f"no throwaway PostgreSQL cluster: {reason}")
    cluster = PgCluster()
    try:
        cluster.start()
        _reset_schema(cluster.url)
        app = create_app(base_config(cluster.url, tmp_path_factory.mktemp("pg-instance")))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def running_cluster(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    if not pg_cluster.running():
        pg_cluster.start()
    yield pg_cluster
    if not pg_cluster.running():
        pg_cluster.start()


@pytest.fixture
def make_fault_app(running_cluster: PgCluster, tmp_path: Path) -> Iterator:
    """Build apps on the throwaway cluster with extra settings; tables emptied afterwards."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        app = create_app(base_config(running_cluster.url, tmp_path / "instance", **overrides))
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    if not running_cluster.running():
        running_cluster.start()
    for app in apps[:1]:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()  # pooled connections from before a restart are dead
            _empty_tables()
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
