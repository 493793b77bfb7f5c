"""Federation: upstream account links, first-party apps and token exchange, implied consent

Revision ID: fed0001a7c31
Revises: 7de2822b144d
Create Date: 2026-11-30 19:55:00.000000

"""
from alembic import op
import sqlalchemy as sa

import idp.storage.models.base


# revision identifiers, used by Alembic.
revision = 'fed0001a7c31'
down_revision = '7de2822b144d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'upstream_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('username', sa.String(length=255), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('created_at', idp.storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', idp.storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'subject', name='uq_upstream_links_provider_subject'),
        sa.UniqueConstraint('user_id', 'provider', name='uq_upstream_links_user_provider'),
    )
    with op.batch_alter_table('upstream_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upstream_links_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('first_party', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column('token_exchange', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('implied', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_column('implied')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('token_exchange')
        batch_op.drop_column('first_party')
    with op.batch_alter_table('upstream_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upstream_links_user_id'))
    op.drop_table('upstream_links')
