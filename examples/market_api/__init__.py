"""A small market API protected by ``tessera_middleware``: ``python -m examples.market_api``."""

from examples.market_api.app import create_app

__all__ = ["create_app"]
