"""Security events written to the audit log (ASVS V7.2 / V16)."""

from __future__ import annotations

from typing import Any

from idp.services.context import Caller
from idp.services.ports import UnitOfWork


def record(
    uow: UnitOfWork,
    event: str,
    caller: Caller,
    *,
    user_id: int | None = None,
    client_id: str | None = None,
    **data: Any,
) -> None:
    uow.audit.record(
        event=event,
        user_id=user_id,
        client_id=client_id,
        ip=caller.ip[:64],
        user_agent=caller.user_agent[:255],
        data=data,
    )
