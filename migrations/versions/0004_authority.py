"""authority: approved plans, ledger owners, server-side web sessions

- ``change_sets.approved_plan``: the fingerprint of the plan an approver reviewed, so that
  publishing a set whose plan changed since sends it back for review;
- ``sync_consumers.owner``: the token that created a ledger row, the only one that may
  update it;
- ``web_sessions``: signed-in sessions kept on the server, so that logging out revokes a
  copied cookie.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 04:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('change_sets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_plan', sa.String(length=64), nullable=True))
    with op.batch_alter_table('sync_consumers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_consumers', schema=None) as batch_op:
        batch_op.drop_column('owner')
    with op.batch_alter_table('change_sets', schema=None) as batch_op:
        batch_op.drop_column('approved_plan')
    op.drop_table('web_sessions')
