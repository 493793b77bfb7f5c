"""client secrets: last 4 characters and last use; access requests: the tier they came from;
usage: token-endpoint errors by code and active users, per app per day

Revision ID: e4d9e5c0a001
Revises: fed0001a7c31
Create Date: 2026-11-30 20:20:00

"""
from alembic import op
import sqlalchemy as sa

import idp.storage.models.base


# revision identifiers, used by Alembic.
revision = 'e4d9e5c0a001'
down_revision = 'fed0001a7c31'
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

    op.create_table('usage_errors_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('error', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['clients.id'], name=op.f('fk_usage_errors_daily_client_pk_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_errors_daily')),
    sa.UniqueConstraint('client_pk', 'day', 'error', name=op.f('uq_usage_errors_daily_client_pk'))
    )
    with op.batch_alter_table('usage_errors_daily', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_errors_daily_client_pk'), ['client_pk'], unique=False)

    op.create_table('usage_active_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['client_pk'], ['clients.id'], name=op.f('fk_usage_active_users_client_pk_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_usage_active_users_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_active_users')),
    sa.UniqueConstraint('client_pk', 'day', 'user_id', name=op.f('uq_usage_active_users_client_pk'))
    )
    with op.batch_alter_table('usage_active_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_active_users_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_usage_active_users_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('usage_active_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_active_users_user_id'))
        batch_op.drop_index(batch_op.f('ix_usage_active_users_client_pk'))
    op.drop_table('usage_active_users')
    with op.batch_alter_table('usage_errors_daily', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_errors_daily_client_pk'))
    op.drop_table('usage_errors_daily')
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.drop_column('from_tier')
    with op.batch_alter_table('client_secrets', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('last4')
