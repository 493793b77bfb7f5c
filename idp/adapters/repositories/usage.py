"""Per-app daily counters (tokens issued), written on the token endpoint's hot path.

One upsert per token response, in the same transaction as the token rows: `INSERT ... ON
CONFLICT (client_pk, day) DO UPDATE SET tokens_issued = tokens_issued + 1`, which SQLite
(3.24+) and PostgreSQL both run atomically, so concurrent requests never lose a count.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.dialects import postgresql, sqlite

from idp.adapters.models import UsageDaily
from idp.extensions import db


def count_token_issued(client_pk: int, day: date) -> None:
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    table = UsageDaily.__table__
    statement = dialect.insert(table).values(client_pk=client_pk, day=day, tokens_issued=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.client_pk, table.c.day],
        set_={"tokens_issued": table.c.tokens_issued + 1},
    )
    db.session.execute(statement)
