"""Example resource servers built only on ``idp.middleware`` (see docs/middleware.md)."""
