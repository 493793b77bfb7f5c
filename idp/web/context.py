"""The bridge between Flask's request globals and the use cases."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from idp.services.context import Caller
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork


def caller() -> Caller:
    return Caller(ip=request.remote_addr or "", user_agent=request.user_agent.string or "")


def tessera() -> Any:
    """The app's wired services (settings, catalogue, hasher, throttle...)."""
    return current_app.extensions["tessera"]


def uow() -> SqlAlchemyUnitOfWork:
    """The request's unit of work (one per request or app context, made when first asked for)."""
    if "uow" not in g:
        g.uow = SqlAlchemyUnitOfWork()
    return g.uow
