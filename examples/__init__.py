"""Example resource servers built only on ``tessera_middleware`` (see docs/middleware.md)."""
