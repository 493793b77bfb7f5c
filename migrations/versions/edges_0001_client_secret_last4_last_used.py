"""client secrets: last 4 characters and last use; access requests: the tier they came from

Revision ID: e4d9e5c0a001
Revises: a3c5e7f9b1d2
Create Date: 2026-11-30 20:20:00

"""
from alembic import op
import sqlalchemy as sa

import idp.storage.models.base


# revision identifiers, used by Alembic.
revision = 'e4d9e5c0a001'
down_revision = 'a3c5e7f9b1d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('client_secrets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last4', sa.String(length=4), nullable=True))
        batch_op.add_column(
            sa.Column('last_used_at', idp.storage.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('from_tier', sa.String(length=32), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.drop_column('from_tier')
    with op.batch_alter_table('client_secrets', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('last4')
