"""Restricted scopes and tiers through access requests, up to an admin's decision."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.services import access_requests
from idp.services.context import Caller
from idp.storage.models import AccessRequest, Client
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import csrf_token
from tests.portal.test_developer_fixtures import (
    count_clients,
    create_app_via_portal,
    load_client,
    register_user,
    signed_in,
)

WHY = "Our bot places orders the user has configured in advance."


@pytest.fixture
def dev(app):
    return signed_in(app, "dana")


def requests_of(app) -> list[AccessRequest]:
    with app.app_context():
        rows = db.session.query(AccessRequest).order_by(AccessRequest.id).all()
        db.session.expunge_all()
        return rows


def decide(app, request_id: int, approve: bool, reason: str = "") -> None:
    admin = register_user(app, "root")
    with app.app_context():
        if approve:
            catalogue = app.extensions["tessera"].catalogue
            access_requests.approve(
                SqlAlchemyUnitOfWork(), Caller(), admin, request_id, reason, catalogue=catalogue
            )
        else:
            access_requests.deny(SqlAlchemyUnitOfWork(), Caller(), admin, request_id, reason)


def ask(dev, client_id: str, **data):
    token = csrf_token(dev, "/developers/apps/new")  # one token per session, any form's will do
    prefix = "s" if data["kind"] == "scopes" else "t"
    return dev.post(
        f"/developers/apps/{client_id}/access", data={f"{prefix}-csrf_token": token, **data}
    )


def test_restricted_scope_at_creation_becomes_a_pending_request(app, dev):
    client_id, _ = create_app_via_portal(dev, restricted_scopes=["orders:write"], justification=WHY)
    assert load_client(app, client_id).allowed_scopes == ["openid", "profile"]
    [row] = requests_of(app)
    assert (row.kind, row.scopes, row.status) == ("scopes", ["orders:write"], "pending")


def test_restricted_scope_without_justification_saves_nothing(app, dev):
    from tests.portal.test_developer_fixtures import create_form

    data = create_form(dev, restricted_scopes=["orders:write"], justification="")
    response = dev.post("/developers/apps/new", data=data)
    assert response.status_code == 400
    assert "Explain in 10 to 2000 characters" in response.get_data(as_text=True)
    assert count_clients(app) == 0 and requests_of(app) == []


def test_scope_request_flow_up_to_approval(app, dev):
    client_id, _ = create_app_via_portal(dev)
    response = ask(dev, client_id, kind="scopes", **{"s-scopes": ["orders:write"]})
    assert response.status_code == 400  # the justification is required
    assert requests_of(app) == []
    response = ask(
        dev, client_id, kind="scopes", **{"s-scopes": ["orders:write"], "s-justification": WHY}
    )
    assert response.status_code == 303
    page = dev.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert "pending" in page
    again = ask(
        dev, client_id, kind="scopes", **{"s-scopes": ["orders:write"], "s-justification": WHY}
    )
    # The form no longer offers a scope already waiting (issue 15): nothing is filed twice.
    assert again.status_code == 400
    assert "Waiting for an admin: orders:write." in again.get_data(as_text=True)
    [row] = requests_of(app)
    decide(app, row.id, approve=True, reason="Looks fine")
    assert "orders:write" in load_client(app, client_id).allowed_scopes
    page = dev.get(f"/developers/apps/{client_id}/access").get_data(as_text=True)
    assert "approved" in page and "Looks fine" in page
    # Once held, the restricted scope can be kept or dropped on the settings page.
    edit = dev.get(f"/developers/apps/{client_id}/edit").get_data(as_text=True)
    assert 'value="orders:write" checked' in edit


def test_denied_request_shows_the_admins_reason(app, dev):
    client_id, _ = create_app_via_portal(dev)
    ask(dev, client_id, kind="scopes", **{"s-scopes": ["chat:read"], "s-justification": WHY})
    [row] = requests_of(app)
    decide(app, row.id, approve=False, reason="Chat access is for partners only.")
    page = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    assert "denied" in page and "Chat access is for partners only." in page
    assert "chat:read" not in load_client(app, client_id).allowed_scopes


def test_public_scope_cannot_be_requested_as_restricted(app, dev):
    client_id, _ = create_app_via_portal(dev)
    response = ask(dev, client_id, kind="scopes", **{"s-scopes": ["email"], "s-justification": WHY})
    assert response.status_code == 400
    assert "is not a valid choice" in response.get_data(as_text=True)
    assert requests_of(app) == []


def test_rate_limit_is_shown_and_a_higher_tier_can_be_requested(app, dev):
    client_id, _ = create_app_via_portal(dev)
    page = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    assert "3 requests per second" in page and "bursts of 10" in page
    response = ask(dev, client_id, kind="tier", **{"t-tier": "partner", "t-justification": WHY})
    assert response.status_code == 303
    [row] = requests_of(app)
    assert (row.kind, row.tier) == ("tier", "partner")
    decide(app, row.id, approve=True)
    with app.app_context():
        client = db.session.query(Client).filter_by(client_id=client_id).one()
        client.custom_rps, client.custom_burst = 75.5, 200
        db.session.commit()
    page = dev.get(f"/developers/apps/{client_id}").get_data(as_text=True)
    assert "Tier <strong>partner</strong>" in page
    assert "75.5 requests per second" in page and "bursts of 200" in page


def test_unknown_tier_is_refused(app, dev):
    client_id, _ = create_app_via_portal(dev)
    response = ask(dev, client_id, kind="tier", **{"t-tier": "unlimited", "t-justification": WHY})
    assert response.status_code == 400
    assert requests_of(app) == []
