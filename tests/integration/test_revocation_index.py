"""The revoked-token check is an index lookup, whatever the length of the revocation log.

Userinfo, introspection, revocation and the management API ask on every call whether a jti is
revoked and whether the app has a suspension cut-off (idp.storage.repositories.revocations);
both are equality lookups on (kind, subject). Without an index each call scanned the whole log,
which a busy marketplace fills with every revoked token until it expires.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from idp.domain.clock import utcnow
from idp.extensions import db
from idp.storage.unit_of_work import SqlAlchemyUnitOfWork

JTI_LOOKUP = "SELECT 1 FROM revocation_events WHERE kind = 'token' AND subject = 'jti-77'"


def _plan(statement: str) -> str:
    if db.engine.dialect.name == "sqlite":
        rows = db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {statement}")).all()
        return " ".join(str(row[-1]) for row in rows)
    # A handful of rows makes a sequential scan cheapest; forbid it to see what the planner can use.
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    return " ".join(row[0] for row in db.session.execute(sa.text(f"EXPLAIN {statement}")))


def test_the_jti_lookup_uses_the_kind_subject_index(app):
    with app.app_context():
        log = SqlAlchemyUnitOfWork().revocations
        until = utcnow() + timedelta(minutes=10)
        for n in range(50):
            log.append("token", f"jti-{n}", until)
        db.session.commit()
        assert "ix_revocation_events_kind_subject" in _plan(JTI_LOOKUP)
        db.session.rollback()
