"""Who is asking: the bits of a request the use cases need, without Flask's globals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    ip: str = ""
    user_agent: str = ""
