"""Every surface answers its own 503 shape while the database is away (docs/operations.md).

One parametrized test, one stopped-cluster period: the module's fixture prepares an app on the
throwaway cluster (tests.faults.conftest) with accounts, apps, a token and a device code, stops
the cluster once, and each case sends one request: JSON `temporarily_unavailable` from machine
and API endpoints, the HTML error page from browser routes, Retry-After on both, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from idp import create_app
from idp.extensions import db
from idp.services import apps
from tests.conftest import PASSWORD, AuthActions, _empty_tables, base_config, csrf_token
from tests.faults.pg_cluster import PgCluster
from tests.faults.test_db_outage import assert_unavailable_json, assert_unavailable_page
from tests.portal.test_admin_fixtures import browser_for
from tests.security.conftest import App, register_app

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Outage:
    """What the cases need, all prepared while the database was up."""

    machine: FlaskClient
    anonymous: FlaskClient
    trader: FlaskClient
    admin: FlaskClient
    service: App
    device_client_id: str
    device_code: str
    access_token: str
    register_form: dict[str, str]
    password_form: dict[str, str]


def _prepare(app) -> Outage:
    service = register_app(
        app, apps.ClientSpec(name="Price Bot", app_type="service", scopes=["market:read"])
    )
    device = register_app(
        app, apps.ClientSpec(name="Trade Terminal", app_type="device", scopes=["openid"])
    )
    machine, anonymous, trader = app.test_client(), app.test_client(), app.test_client()
    AuthActions(trader).register()
    assert AuthActions(trader).login().status_code == 303
    issued = machine.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=service.basic()
    )
    started = machine.post(
        "/oauth/device_authorization", data={"client_id": device.client_id, "scope": "openid"}
    )
    assert issued.status_code == started.status_code == 200
    return Outage(
        machine=machine,
        anonymous=anonymous,
        trader=trader,
        admin=browser_for(app, "root", admin=True),
        service=service,
        device_client_id=device.client_id,
        device_code=started.get_json()["device_code"],
        access_token=issued.get_json()["access_token"],
        register_form={
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": csrf_token(anonymous, "/register"),
        },
        password_form={
            "current_password": PASSWORD,
            "new_password": PASSWORD + "-new",
            "confirm": PASSWORD + "-new",
            "csrf_token": csrf_token(trader, "/account"),
        },
    )


@pytest.fixture(scope="module")
def outage(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """The cluster stopped once for all the cases, then started again and emptied."""
    if not pg_cluster.running():
        pg_cluster.start()
    config = base_config(pg_cluster.url, tmp_path_factory.mktemp("outage-instance"))
    app = create_app({**config, "DB_CONNECT_TIMEOUT": 2})
    app.config["TESTING"] = True
    try:
        prepared = _prepare(app)
        pg_cluster.stop()
        yield prepared
    finally:
        if not pg_cluster.running():
            pg_cluster.start()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()  # pooled connections from before the restart are dead
            _empty_tables()
            db.session.remove()
            db.engine.dispose()


Case = Callable[[Outage], object]
JSON_CASES: dict[str, Case] = {
    "introspect": lambda o: o.machine.post(
        "/oauth/introspect", data={"token": o.access_token}, headers=o.service.basic()
    ),
    "device_authorization": lambda o: o.machine.post(
        "/oauth/device_authorization", data={"client_id": o.device_client_id, "scope": "openid"}
    ),
    "device_code_grant": lambda o: o.machine.post(
        "/oauth/token",
        data={
            "grant_type": DEVICE_GRANT,
            "device_code": o.device_code,
            "client_id": o.device_client_id,
        },
    ),
}
PAGE_CASES: dict[str, Case] = {
    "device_get": lambda o: o.trader.get("/device"),
    "device_post": lambda o: o.trader.post(
        "/device", data={"user_code": "BCDF-GHJK", "csrf_token": o.password_form["csrf_token"]}
    ),
    "register_post": lambda o: o.anonymous.post("/register", data=o.register_form),
    "admin_users": lambda o: o.admin.get("/admin/users"),
    "developer_new_app": lambda o: o.trader.get("/developers/apps/new"),
    "account_password": lambda o: o.trader.post("/account/password", data=o.password_form),
    "end_session": lambda o: o.trader.get("/oauth/logout"),
    "home": lambda o: o.trader.get("/"),
}


@pytest.mark.parametrize(
    ("case", "shape"),
    [(name, "json") for name in JSON_CASES] + [(name, "page") for name in PAGE_CASES],
)
def test_every_surface_answers_503_in_its_own_shape(outage: Outage, case: str, shape: str):
    if shape == "json":
        assert_unavailable_json(JSON_CASES[case](outage))
    else:
        assert_unavailable_page(PAGE_CASES[case](outage))


def test_the_answer_shape_follows_the_route_not_the_path(client):
    """/oauth/ holds browser pages too: a refused method there is still a page."""
    assert client.put("/oauth/logout").mimetype == "text/html"
    assert client.put("/oauth/authorize").mimetype == "text/html"
    assert client.put("/oauth/userinfo").get_json()["error"] == "invalid_request"
    assert client.get("/oauth/nowhere").get_json()["error"] == "not_found"
    assert client.get("/nowhere").mimetype == "text/html"
