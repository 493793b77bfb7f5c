"""Demo data for `make run`: the apps come with the authorization server."""

from __future__ import annotations


def seed_demo_clients() -> list[str]:
    """Create the demo apps when missing; return lines with any secret shown for the first time."""
    return []
