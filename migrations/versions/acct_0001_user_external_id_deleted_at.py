"""users: external_id (imported accounts) and deleted_at (accounts their users deleted)

Revision ID: acct0001extid
Revises: api0001pat
Create Date: 2026-11-30 19:55:00

"""
from alembic import op
import sqlalchemy as sa

import idp.storage.models.base


# revision identifiers, used by Alembic.
revision = 'acct0001extid'
down_revision = 'api0001pat'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', idp.storage.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_external_id'), ['external_id'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_external_id'), type_='unique')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('external_id')
