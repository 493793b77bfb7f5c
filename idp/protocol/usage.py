"""What the token endpoint counts for an app's usage page: tokens issued (and to whom), and
errors by RFC 6749 5.2 code, so a developer sees why their app fails.

Counts go to the in-memory UsageCounter (written in batches, idp/storage/repositories/usage.py):
a successful client_credentials request still runs no SQL. An error is counted against the
app the request names, when it exists, whether or not it authenticated: "invalid_client" is
exactly what a developer with a wrong secret needs to see.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization

from idp.domain.clock import utcnow
from idp.protocol.answers import Answer

log = logging.getLogger(__name__)


def claimed_client_id(request: Any) -> str | None:
    """The client_id the request names: its HTTP Basic user, else the body's client_id."""
    try:
        basic_id, _secret = extract_basic_authorization(request.headers)
    except ValueError:
        basic_id = None
    named = basic_id or request.form.get("client_id")
    return named if isinstance(named, str) and named else None


def _client_pk(tessera: Any, request: Any) -> int | None:
    client = getattr(request, "client", None)
    if client is not None:
        return client.policy.pk
    client_id = claimed_client_id(request)
    if client_id is None or len(client_id) > 64:
        return None
    policy = tessera.oauth.clients.get(client_id)  # the process cache; unknown ids too
    return policy.pk if policy is not None else None


def _error_code(answer: Answer) -> str | None:
    try:
        code = json.loads(answer.body).get("error")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) and code.isascii() else None


def count_usage(tessera: Any, request: Any, answer: Answer) -> None:
    today = utcnow().date()
    if answer.status == 200:
        user = getattr(request, "user", None)
        tessera.usage.count(request.client.policy.pk, today, getattr(user, "id", None))
    elif 400 <= answer.status < 500:
        code = _error_code(answer)
        try:
            pk = _client_pk(tessera, request) if code else None
        except Exception:  # e.g. the database away: the answer stands, the count is skipped
            log.debug("usage error count skipped", exc_info=True)
            pk = None
        if pk is not None and code is not None:
            tessera.usage.count_error(pk, today, code)
