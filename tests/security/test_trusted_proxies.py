"""X-Forwarded-For is believed only from the proxies Tessera is told about (TESSERA_TRUSTED_PROXIES).

With 0 (the default: nothing in front), a client that writes the header itself changes neither
the address in the audit log nor the address the login throttle counts. With 1 (one nginx in
front, deploy/nginx/tessera.conf), the address that proxy appended is the client's, and
whatever the client wrote before it is ignored. tests/e2e/test_failover.py checks the same
through a real nginx.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.storage.models import AuditEvent
from tests.conftest import AuthActions

FORGED = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]


def _failed_logins(app, forwarded_for: list[str]) -> list[int]:
    client = app.test_client()
    statuses = []
    for value in forwarded_for:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = value
        statuses.append(AuthActions(client).login(password="wrong password!").status_code)
    return statuses


def _audited_ips(app) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent.ip)
            .where(AuditEvent.event.in_(["login.failed", "login.throttled"]))
            .order_by(AuditEvent.id)
        ).all()
        db.session.remove()
    return list(rows)


@pytest.mark.usefixtures("user")
def test_checklist_20_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(make_app):
    app = make_app(TRUSTED_PROXIES=0, LOGIN_IP_LIMIT="3/minute", LOGIN_ACCOUNT_LIMIT="100/minute")
    statuses = _failed_logins(app, FORGED)
    # one IP budget for all four: a new forged address each time does not buy more guesses
    assert statuses == [401, 401, 401, 429]
    assert set(_audited_ips(app)) == {"127.0.0.1"}  # the socket's address, never the header's


@pytest.mark.usefixtures("user")
def test_checklist_20_behind_one_proxy_the_address_it_appended_is_the_client(make_app):
    app = make_app(TRUSTED_PROXIES=1, LOGIN_IP_LIMIT="3/minute", LOGIN_ACCOUNT_LIMIT="100/minute")
    # what the client wrote, then what nginx appended ($proxy_add_x_forwarded_for)
    chains = [f"198.51.100.9, {address}" for address in FORGED]
    assert _failed_logins(app, chains) == [401, 401, 401, 401]  # four clients, four budgets
    assert _audited_ips(app) == FORGED
