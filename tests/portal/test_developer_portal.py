"""Developer portal: creating apps, validation next to the field, logos, ownership, deletion."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from idp.extensions import db
from idp.storage.models import ClientLogo, ClientMember
from tests.conftest import csrf_token
from tests.portal.test_developer_fixtures import (
    count_clients,
    create_app_via_portal,
    create_form,
    image_bytes,
    load_client,
    make_client,
    register_user,
    signed_in,
    token_for,
)


@pytest.fixture
def dev(app):
    return signed_in(app, "dana")


def test_portal_needs_sign_in(client):
    response = client.get("/developers")
    assert response.status_code == 303
    assert "/login" in response.headers["Location"]


def test_nav_links_to_developers_when_signed_in(dev):
    assert 'href="/developers"' in dev.get("/account").get_data(as_text=True)


def test_create_web_app_shows_secret_exactly_once(app, dev):
    client_id, secret = create_app_via_portal(dev)
    assert secret and len(secret) >= 43  # 256 bits, url-safe
    again = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
    assert client_id in again
    assert secret not in again and 'id="client-secret"' not in again
    stored = load_client(app, client_id)
    assert stored.grant_types == ["authorization_code", "refresh_token"]
    assert stored.allowed_scopes == ["openid", "profile"]
    assert all(secret not in s.digest for s in stored.secrets)


def test_checklist_14_created_service_secret_works_at_token_endpoint(app, dev):
    client_id, secret = create_app_via_portal(
        dev, name="Bot", app_type="service", redirect_uris="", scopes=["market:read"]
    )
    response = token_for(app, client_id, secret)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "market:read"


def test_public_app_has_no_secret(app, dev):
    client_id, secret = create_app_via_portal(
        dev, app_type="spa", redirect_uris="http://127.0.0.1/cb"
    )
    assert secret is None
    page = dev.get(f"/developers/apps/{client_id}/credentials").get_data(as_text=True)
    assert "no secret" in page


def test_checklist_2_bad_redirect_uri_message_next_to_field_and_nothing_saved(app, dev):
    data = create_form(dev, redirect_uris="http://app.example.com/cb\nhttps://ok.example.com/cb")
    response = dev.post("/developers/apps/new", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "plain http is only allowed for loopback" in html
    field = html.split('id="redirect_uris"')[1].split("</div>")[0]
    assert "field-error" in field  # the message sits with its field
    assert count_clients(app) == 0


def test_checklist_1_wildcard_and_missing_redirect_refused(app, dev):
    html = dev.post(
        "/developers/apps/new", data=create_form(dev, redirect_uris="https://*.example.com/cb")
    ).get_data(as_text=True)
    assert "wildcards and spaces are not allowed" in html
    html = dev.post("/developers/apps/new", data=create_form(dev, redirect_uris="")).get_data(
        as_text=True
    )
    assert "Register at least one redirect URI." in html
    assert count_clients(app) == 0


def test_create_refuses_missing_name_unknown_type_and_restricted_scope_without_request(app, dev):
    response = dev.post(
        "/developers/apps/new", data=create_form(dev, name="", app_type="mainframe")
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This field is required." in html and "Not a valid choice" in html
    # A restricted scope cannot be slipped into the public list.
    response = dev.post("/developers/apps/new", data=create_form(dev, scopes=["orders:write"]))
    assert response.status_code == 400
    assert count_clients(app) == 0


def test_create_without_csrf_token_is_refused(app, dev):
    data = create_form(dev)
    del data["csrf_token"]
    assert dev.post("/developers/apps/new", data=data).status_code == 400
    assert count_clients(app) == 0


def test_logo_upload_is_reencoded_to_small_png_and_served(app, dev):
    upload = (io.BytesIO(image_bytes("JPEG", (800, 400))), "logo.jpg")
    client_id, _ = create_app_via_portal(dev, logo=upload)
    served = dev.get(f"/apps/{client_id}/logo")
    assert served.status_code == 200 and served.mimetype == "image/png"
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.format == "PNG" and max(image.size) == 256


def test_logo_that_is_not_an_image_is_refused_and_nothing_saved(app, dev):
    fake = (io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"), "logo.png")
    response = dev.post(
        "/developers/apps/new", data=create_form(dev, logo=fake), content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "not a valid PNG, JPEG or WebP image" in response.get_data(as_text=True)
    assert count_clients(app) == 0


def test_oversized_logo_is_refused(app, dev):
    big = image_bytes("PNG", (16, 16)) + b"\0" * (256 * 1024)
    response = dev.post(
        "/developers/apps/new",
        data=create_form(dev, logo=(io.BytesIO(big), "big.png")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "at most 256 KiB" in response.get_data(as_text=True)
    assert count_clients(app) == 0


def test_gif_logo_is_refused(app, dev):
    gif = (io.BytesIO(image_bytes("GIF")), "logo.gif")
    response = dev.post(
        "/developers/apps/new", data=create_form(dev, logo=gif), content_type="multipart/form-data"
    )
    assert "Upload a PNG, JPEG or WebP image." in response.get_data(as_text=True)


def test_another_developers_app_is_404_everywhere(app, dev):
    other_id = register_user(app, "olga")
    client_id = make_client(app, other_id)
    token = csrf_token(dev, "/developers/apps/new")
    for path in ("", "/edit", "/credentials", "/access", "/members", "/delete"):
        assert dev.get(f"/developers/apps/{client_id}{path}").status_code == 404, path
    for path in ("/secret/rotate", "/secret/revoke-old", "/delete", "/members", "/edit"):
        response = dev.post(
            f"/developers/apps/{client_id}{path}",
            data={"csrf_token": token, "grace": "0", "confirm_name": "Price Bot"},
        )
        assert response.status_code == 404, path
    assert "Price Bot" not in dev.get("/developers").get_data(as_text=True)
    assert load_client(app, client_id) is not None


def test_members_see_the_app_and_only_owners_manage_members_or_delete(app, dev):
    client_id, _ = create_app_via_portal(dev)
    register_user(app, "mia")
    token = csrf_token(dev, f"/developers/apps/{client_id}/members")
    # Issue 12 item 15: the form invites, with one answer whether or not the name exists
    # (it used to say "There is no account with this username." and add "mia" at once).
    for name in ("nobody", "mia"):
        response = dev.post(
            f"/developers/apps/{client_id}/members",
            data={"csrf_token": token, "username": name, "role": "developer"},
        )
        assert response.status_code == 303
    mia = app.test_client()
    from tests.conftest import AuthActions

    AuthActions(mia).login(login="mia")
    assert mia.get(f"/developers/apps/{client_id}").status_code == 404  # not before accepting
    accept = re.search(
        r'action="(/developers/invitations/\d+/accept)"', mia.get("/developers").text
    )
    mia_token = csrf_token(mia, "/developers/apps/new")
    assert mia.post(accept.group(1), data={"csrf_token": mia_token}).status_code == 303
    assert "Trade Helper" in mia.get("/developers").get_data(as_text=True)
    assert mia.get(f"/developers/apps/{client_id}/edit").status_code == 200
    assert mia.get(f"/developers/apps/{client_id}/delete").status_code == 403
    response = mia.post(
        f"/developers/apps/{client_id}/members",
        data={"csrf_token": mia_token, "username": "dana", "role": "owner"},
    )
    assert response.status_code == 403
    with app.app_context():
        member = db.session.query(ClientMember).one()
        member_id = member.user_id
    response = dev.post(
        f"/developers/apps/{client_id}/members/{member_id}/remove", data={"csrf_token": token}
    )
    assert response.status_code == 303
    assert mia.get(f"/developers/apps/{client_id}").status_code == 404


def test_edit_saves_valid_changes_and_keeps_everything_on_error(app, dev):
    client_id, _ = create_app_via_portal(dev)
    token = csrf_token(dev, f"/developers/apps/{client_id}/edit")
    base = {
        "csrf_token": token,
        "name": "Trade Helper 2",
        "redirect_uris": "https://app.example.com/new",
        "scopes": ["openid", "email"],
    }
    response = dev.post(f"/developers/apps/{client_id}/edit", data=base)
    assert response.status_code == 303
    stored = load_client(app, client_id)
    assert stored.name == "Trade Helper 2"
    assert stored.redirect_uris == ["https://app.example.com/new"]
    assert stored.allowed_scopes == ["openid", "email"]
    bad = {**base, "name": "Renamed", "redirect_uris": "https://app.example.com/#frag"}
    response = dev.post(f"/developers/apps/{client_id}/edit", data=bad)
    assert response.status_code == 400
    assert "must not contain a fragment" in response.get_data(as_text=True)
    assert load_client(app, client_id).name == "Trade Helper 2"
    restricted = {**base, "scopes": ["openid", "orders:write"]}
    response = dev.post(f"/developers/apps/{client_id}/edit", data=restricted)
    assert response.status_code == 400
    assert load_client(app, client_id).allowed_scopes == ["openid", "email"]


def test_edit_replaces_the_logo(app, dev):
    client_id, _ = create_app_via_portal(dev)
    token = csrf_token(dev, f"/developers/apps/{client_id}/edit")
    response = dev.post(
        f"/developers/apps/{client_id}/edit",
        data={
            "csrf_token": token,
            "name": "Trade Helper",
            "redirect_uris": "https://app.example.com/callback",
            "logo": (io.BytesIO(image_bytes("WEBP", (32, 32))), "l.webp"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.query(ClientLogo).one().content_type == "image/png"


def test_delete_needs_the_app_name_typed_and_revokes_everything(app, dev):
    client_id, _ = create_app_via_portal(dev)
    token = csrf_token(dev, f"/developers/apps/{client_id}/delete")
    response = dev.post(
        f"/developers/apps/{client_id}/delete",
        data={"csrf_token": token, "confirm_name": "trade helper"},
    )
    assert response.status_code == 400
    assert "The name does not match." in response.get_data(as_text=True)
    assert load_client(app, client_id) is not None
    response = dev.post(
        f"/developers/apps/{client_id}/delete",
        data={"csrf_token": token, "confirm_name": "Trade Helper"},
    )
    assert response.status_code == 303
    assert load_client(app, client_id) is None
    assert dev.get(f"/developers/apps/{client_id}").status_code == 404
