"""Tessera's pushed revocation events (docs/revocation-events.md, version 1), stdlib only.

One event is a JSON object ``{"v": 1, "seq": 42, "id": 97, "type": "token", "subject": "...",
"until": 1767225600, "at": 1767222000}``. ``seq`` numbers the events consecutively in the order
Tessera published them: it is the Redis stream entry id (``42-0``) and the SSE event id, and a
consumer that sees ``seq`` jump by more than one has missed events and reloads the snapshot.
``delta`` turns an event into the feed's delta document, which ``RevocationState.apply`` and
its listeners already understand.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

VERSION = 1
STREAM_SUFFIX = ":revocations"


def default_stream_key(issuer: str) -> str:
    """The Redis stream Tessera writes for this issuer: ``tessera:<12 hex>:revocations``."""
    digest = hashlib.sha256(issuer.rstrip("/").encode()).hexdigest()[:12]
    return f"tessera:{digest}{STREAM_SUFFIX}"


def parse(raw: str | bytes) -> dict[str, Any] | None:
    """The event in a stream entry or SSE data line; None (logged) if it is not one we know."""
    try:
        event = json.loads(raw)
    except ValueError:
        log.warning("ignoring an undecodable revocation event")
        return None
    if not isinstance(event, dict) or event.get("v") != VERSION:
        log.warning("ignoring a revocation event of an unknown version: %.200r", raw)
        return None
    if not _int(event.get("seq")) or not isinstance(event.get("subject"), str):
        log.warning("ignoring a malformed revocation event: %.200r", raw)
        return None
    return event


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def delta(event: dict[str, Any]) -> dict[str, Any] | None:
    """The feed delta document for one event; None for a type this version does not know
    (new types may be added without a version bump: consumers skip them)."""
    kind, subject, until = event.get("type"), event["subject"], event.get("until")
    until = until if _int(until) else None  # null: in force until a snapshot says otherwise
    if kind == "token":
        return {"full": False, "revoked_tokens": [{"jti": subject, "exp": until}]}
    if kind == "grant":
        return {"full": False, "revoked_grants": [{"gid": subject, "until": until}]}
    if kind == "client_suspended":
        return {"full": False, "suspended_clients": [subject]}
    if kind == "client_restored":
        return {"full": False, "restored_clients": [subject]}
    if kind == "client_cutoff" and _int(event.get("at")):
        cutoff = {"client_id": subject, "issued_before": event["at"], "until": until}
        return {"full": False, "client_cutoffs": [cutoff]}
    log.info("skipping revocation event of unknown type %r", kind)
    return None
