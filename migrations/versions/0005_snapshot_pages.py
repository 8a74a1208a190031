"""snapshot pages: each page of a release's snapshot stored once, served to every replica

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('snapshot_pages',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('epoch', sa.String(length=64), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_snapshot_pages'))
    )
    with op.batch_alter_table('snapshot_pages', schema=None) as batch_op:
        batch_op.create_index('ix_snapshot_pages_release', ['release_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('snapshot_pages', schema=None) as batch_op:
        batch_op.drop_index('ix_snapshot_pages_release')
    op.drop_table('snapshot_pages')
