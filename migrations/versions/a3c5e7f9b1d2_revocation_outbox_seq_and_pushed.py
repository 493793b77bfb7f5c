"""Revocation events are the outbox of the pushed channels: a publication sequence (`seq`, the
Redis stream id and the SSE event id) and a `pushed` marker (on the Redis stream)

Events already in the log predate the channels: they get seq = id and count as pushed, so no
backlog is replayed (consumers start from the feed's snapshot, which holds them).

Revision ID: a3c5e7f9b1d2
Revises: 1dbf0d51a4dc
Create Date: 2026-11-30 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3c5e7f9b1d2'
down_revision = '1dbf0d51a4dc'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('revocation_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('pushed', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_unique_constraint('uq_revocation_events_seq', ['seq'])
        batch_op.create_index('ix_revocation_events_pushed', ['pushed'], unique=False)
    op.execute(sa.text("UPDATE revocation_events SET seq = id, pushed = :yes").bindparams(yes=True))


def downgrade():
    with op.batch_alter_table('revocation_events', schema=None) as batch_op:
        batch_op.drop_index('ix_revocation_events_pushed')
        batch_op.drop_constraint('uq_revocation_events_seq', type_='unique')
        batch_op.drop_column('pushed')
        batch_op.drop_column('seq')
