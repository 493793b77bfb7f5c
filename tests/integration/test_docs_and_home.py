"""The developer docs at /docs and the signed-out home page (issue 15)."""

from __future__ import annotations

import pytest

from idp.web.docs import ORDER, render


def test_signed_out_home_says_what_tessera_is_and_links_onwards(client):
    response = client.get("/")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "identity provider" in text
    for href in ('href="/login"', 'href="/register"', 'href="/docs"'):
        assert href in text


def test_signed_in_home_is_the_account(client, auth, user):
    auth.login()
    assert client.get("/").headers["Location"].endswith("/account")


@pytest.mark.parametrize("slug", ORDER)
def test_every_guide_page_renders_with_nav_and_toc(client, slug):
    response = client.get(f"/docs/{slug}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'aria-label="Developer docs"' in text
    assert f'href="/docs/{slug}" aria-current="page"' in text
    assert "{{" not in text  # every placeholder filled


def test_scopes_page_is_generated_from_the_catalogue(app, client):
    text = client.get("/docs/scopes").get_data(as_text=True)
    for scope in app.extensions["tessera"].catalogue.scopes.values():
        assert f"<code>{scope.name}</code>" in text


def test_lifetimes_come_from_the_settings(make_app):
    app = make_app(ACCESS_TOKEN_TTL=1234)
    text = app.test_client().get("/docs/tokens").get_data(as_text=True)
    assert "1234 s" in text


def test_raw_html_in_markdown_is_escaped():
    rendered = render('# T\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n## A "b"')
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert 'href="javascript:' not in rendered.html
    assert rendered.toc == [(2, "a-b", 'A "b"')]
    assert '<h2 id="a-b">' in rendered.html


def test_unknown_page_is_404_and_the_index_is_the_quick_start(client):
    assert client.get("/docs/nope").status_code == 404
    assert client.get("/docs/..%2Fsecurity").status_code == 404
    assert "Quick start" in client.get("/docs").get_data(as_text=True)


def test_secret_settings_are_never_filled(app):
    from idp.web.docs import fill

    with app.test_request_context("/docs"):
        assert fill("{{ setting:SECRET_KEY }}") == "{{ setting:SECRET_KEY }}"
