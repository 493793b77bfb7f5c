"""Issue 12 item 17: an access request follows the rules of app creation (one validation), and
what the portal lists as held is what the token endpoint issues."""

from __future__ import annotations

import pytest

from idp.errors import FieldErrors
from idp.extensions import db
from idp.services import access_requests
from idp.services.context import Caller
from idp.storage.models import AccessRequest, Client
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import csrf_token
from tests.portal.test_developer_fixtures import (
    create_app_via_portal,
    register_user,
    signed_in,
    token_for,
)

WHY = "Our bot places orders the user has configured in advance."


@pytest.fixture
def dev(app):
    return signed_in(app, "dana")


def _requests(app) -> list[AccessRequest]:
    with app.app_context():
        return list(db.session.query(AccessRequest))


def _service_app(dev) -> tuple[str, str]:
    return create_app_via_portal(
        dev, app_type="service", redirect_uris="", scopes=["market:read"], name="Price Bot"
    )


def test_service_app_cannot_request_a_user_scope(app, dev):
    client_id, _ = _service_app(dev)
    token = csrf_token(dev, "/developers/apps/new")
    response = dev.post(
        f"/developers/apps/{client_id}/access",
        data={"s-csrf_token": token, "kind": "scopes", "s-scopes": ["orders:write"],
              "s-justification": WHY},
    )  # fmt: skip
    assert response.status_code == 400
    assert _requests(app) == []


def test_service_app_creation_cannot_ask_for_a_user_scope(app, dev):
    from tests.portal.test_developer_fixtures import create_form

    data = create_form(
        dev, app_type="service", redirect_uris="", scopes=["market:read"],
        restricted_scopes=["orders:write"], justification=WHY,
    )  # fmt: skip
    response = dev.post("/developers/apps/new", data=data)
    assert response.status_code == 400
    assert "cannot hold user scopes" in response.get_data(as_text=True)
    assert _requests(app) == []


def test_the_service_refuses_a_user_scope_for_a_service_app(app, dev):
    """The rule lives in the service, so the API and the CLI get it too."""
    client_id, _ = _service_app(dev)
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        client = uow.clients.by_client_id(client_id)
        with pytest.raises(FieldErrors) as excinfo:
            access_requests.request_scopes(
                uow, app.extensions["tessera"].catalogue, Caller(), client, client.owner_id,
                ["orders:write"], WHY,
            )  # fmt: skip
    assert "cannot hold user scopes" in excinfo.value.errors["scopes"][0]


def test_an_old_pending_user_scope_request_cannot_be_approved(app, dev):
    """A request filed before the rule: the admin's approval checks it again."""
    client_id, _ = _service_app(dev)
    admin = register_user(app, "root")
    with app.app_context():
        uow = SqlAlchemyUnitOfWork()
        client = uow.clients.by_client_id(client_id)
        row = access_requests.file(
            uow, Caller(), client, client.owner_id, WHY, kind="scopes", scopes=["orders:write"]
        )
        uow.commit()
        with pytest.raises(FieldErrors):
            access_requests.approve(
                uow, Caller(), admin, row.id, catalogue=app.extensions["tessera"].catalogue
            )
    with app.app_context():
        client = db.session.query(Client).filter_by(client_id=client_id).one()
        assert "orders:write" not in client.allowed_scopes


def test_portal_lists_as_held_what_the_token_endpoint_issues(app, dev):
    client_id, secret = _service_app(dev)
    with app.app_context():  # a user scope granted before the rule existed
        client = db.session.query(Client).filter_by(client_id=client_id).one()
        client.allowed_scopes = ["market:read", "orders:write"]
        db.session.commit()
    issued = token_for(app, client_id, secret).get_json()["scope"].split()
    assert issued == ["market:read"]
    show = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    access = dev.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert "orders:write" not in show
    assert "Holding now: market:read." in access
