"""The bridge between Flask's request globals and the use cases."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from idp.services.context import Caller


def caller() -> Caller:
    return Caller(ip=request.remote_addr or "", user_agent=request.user_agent.string or "")


def tessera() -> Any:
    """The app's wired services (settings, catalogue, hasher, throttle...)."""
    return current_app.extensions["tessera"]
