"""web sessions from the identity provider

A web session holds the token it was opened with, or the actor an OpenID Connect sign-in
mapped the organisation's claims to.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.JSON(), nullable=True))
        batch_op.alter_column('token_hash',
               existing_type=sa.VARCHAR(length=64),
               nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.alter_column('token_hash',
               existing_type=sa.VARCHAR(length=64),
               nullable=False)
        batch_op.drop_column('actor')

