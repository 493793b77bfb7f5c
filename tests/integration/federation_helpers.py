"""Fixtures and steps shared by the federation and token-exchange tests."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from tests.standins import discord, oidc
from tests.standins.discord import StandInDiscord
from tests.standins.oidc import StandInOpenIDProvider


@pytest.fixture(scope="session")
def standin_discord() -> Iterator[StandInDiscord]:
    with StandInDiscord() as server:
        yield server


@pytest.fixture(scope="session")
def standin_oidc() -> Iterator[StandInOpenIDProvider]:
    with StandInOpenIDProvider() as server:
        yield server


@pytest.fixture
def discord_stub(standin_discord: StandInDiscord) -> Iterator[StandInDiscord]:
    """The stand-in with its knobs back at their defaults after the test."""
    user = dict(standin_discord.user)
    yield standin_discord
    standin_discord.user = user
    standin_discord.deny, standin_discord.token_delay = False, 0.0
    standin_discord.interactive = standin_discord.me_down = False
    standin_discord.token_error = None


@pytest.fixture
def providers_file(tmp_path, monkeypatch, standin_discord, standin_oidc):
    monkeypatch.setenv("TESSERA_DISCORD_CLIENT_SECRET", discord.CLIENT_SECRET)
    monkeypatch.setenv("TESSERA_STANDIN_OIDC_SECRET", oidc.CLIENT_SECRET)
    path = tmp_path / "providers.yaml"
    entries = {
        "discord": standin_discord.catalogue_entry(),
        "standin": standin_oidc.catalogue_entry(),
    }
    path.write_text(yaml.safe_dump({"providers": entries}))
    return str(path)


@pytest.fixture
def fed_app(make_app, providers_file):
    return make_app(PROVIDERS_FILE=providers_file, UPSTREAM_TIMEOUT=1)


@pytest.fixture
def fed_client(fed_app):
    return fed_app.test_client()


def upstream_round_trip(client, start_path: str, *, method: str = "GET", data=None):
    """Tessera sends the browser upstream; the stand-in approves; the browser comes back."""
    first = client.open(start_path, method=method, data=data)
    if method == "POST":  # the Link button: a page that moves on by itself (meta refresh)
        assert first.status_code == 200, first.get_data(as_text=True)[:500]
        found = re.search(r'content="0;url=([^"]+)"', first.get_data(as_text=True))
        location = html.unescape(found.group(1))
    else:
        assert first.status_code == 303, first.get_data(as_text=True)[:500]
        location = first.headers["Location"]
    upstream = requests.get(location, allow_redirects=False, timeout=5)
    assert upstream.status_code == 302, upstream.text[:300]
    back = urlsplit(upstream.headers["Location"])
    return client.get(f"{back.path}?{back.query}")
