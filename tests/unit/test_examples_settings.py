"""The example services refuse to start on missing or malformed settings, naming them."""

import pytest

from examples.market_api.orders import OrderInvalid, parse_new_order
from examples.resource import ResourceSettings, SettingsError

ENV = {
    "TESSERA_ISSUER": "http://127.0.0.1:5000/",
    "API_CLIENT_ID": "rs",
    "API_CLIENT_SECRET": "s3cret",
}


def test_examples_settings_default_the_audience_to_the_issuers_api():
    settings = ResourceSettings.from_env(ENV, default_port=8000)
    assert settings.audience == "http://127.0.0.1:5000/api"
    assert (settings.port, settings.redis_url, settings.namespace) == (8000, "", "market")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"API_CLIENT_SECRET": ""}, "API_CLIENT_SECRET"),
        ({"TESSERA_ISSUER": " "}, "TESSERA_ISSUER"),
        ({"PORT": "eighty"}, "PORT"),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ],
)
def test_examples_settings_errors_name_the_setting(change, named):
    with pytest.raises(SettingsError) as refused:
        ResourceSettings.from_env({**ENV, **change}, default_port=8000)
    assert named in str(refused.value)


def test_market_order_validation_reports_every_bad_field_at_once():
    with pytest.raises(OrderInvalid) as refused:
        parse_new_order({"item": "", "side": "short", "price": True, "quantity": 0})
    assert set(refused.value.errors) == {"item", "side", "price", "quantity"}
    assert parse_new_order({"item": " Gem ", "side": "buy", "price": 2.5, "quantity": 3}) == {
        "item": "Gem",
        "side": "buy",
        "price": "2.5",
        "quantity": 3,
    }
