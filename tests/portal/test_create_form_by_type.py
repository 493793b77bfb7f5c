"""Issue 15, long forms: the create form adapts to the app type without JavaScript, shows every
problem at once, and lists them in a summary at the top."""

from __future__ import annotations

import pytest

from tests.portal.test_developer_fixtures import count_clients, create_form, signed_in


@pytest.fixture
def dev(app):
    return signed_in(app, "dana")


def test_service_form_has_no_redirect_fields(dev):
    html = dev.get("/developers/apps/new?type=service").get_data(as_text=True)
    assert 'name="redirect_uris"' not in html and 'name="post_logout_redirect_uris"' not in html
    assert '<input type="hidden" name="app_type" value="service">' in html
    assert 'id="type-service" name="type" value="service" checked' in html


def test_device_form_does_not_say_pkce_and_has_no_redirects(dev):
    html = dev.get("/developers/apps/new?type=device").get_data(as_text=True)
    form = html.split('enctype="multipart/form-data"', 1)[1]
    assert "PKCE" not in form
    assert 'name="redirect_uris"' not in form
    assert "device flow" in form


@pytest.mark.parametrize("app_type", ["web", "spa", "native"])
def test_redirecting_types_keep_their_redirect_fields(dev, app_type):
    html = dev.get(f"/developers/apps/new?type={app_type}").get_data(as_text=True)
    assert 'name="redirect_uris"' in html


def test_unknown_type_in_the_query_falls_back_to_web(dev):
    html = dev.get("/developers/apps/new?type=<script>").get_data(as_text=True)
    assert '<input type="hidden" name="app_type" value="web">' in html
    assert "<script>" not in html.split("<body>", 1)[1]


def test_the_type_chooser_is_a_plain_get_form(dev):
    html = dev.get("/developers/apps/new").get_data(as_text=True)
    assert '<form method="get" action="/developers/apps/new" class="type-chooser">' in html
    assert "<script" not in html


def test_every_problem_shows_in_one_pass_with_a_summary_at_the_top(app, dev):
    """A missing name (the form's check) and a bad redirect URI plus an over-long description
    (the use case's checks) are reported together."""
    data = create_form(
        dev, name="", redirect_uris="ftp://bad.example/cb", homepage_url="javascript:alert(1)"
    )
    response = dev.post("/developers/apps/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    summary = html.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'href="#name"' in summary and 'href="#redirect_uris"' in summary
    assert 'href="#redirect_uris"' in summary
    assert 'href="#homepage_url"' in summary
    assert html.index('id="error-summary"') < html.index('name="name"')
    assert count_clients(app) == 0


def test_edit_form_has_the_summary_too(app, dev):
    from tests.portal.test_developer_fixtures import create_app_via_portal

    client_id, _ = create_app_via_portal(dev)
    data = create_form(dev, name="", redirect_uris="ftp://bad.example/cb")
    data.pop("app_type")
    html = dev.post(f"/developers/apps/{client_id}/edit", data=data).get_data(as_text=True)
    summary = html.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'href="#name"' in summary and 'href="#redirect_uris"' in summary
