"""change pages: complete change pages stored by the publish that completed them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_pages',
    sa.Column('epoch', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('page', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('epoch', 'size', 'page', name=op.f('pk_change_pages'))
    )
    with op.batch_alter_table('change_pages', schema=None) as batch_op:
        batch_op.create_index('ix_change_pages_release', ['release_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('change_pages', schema=None) as batch_op:
        batch_op.drop_index('ix_change_pages_release')
    op.drop_table('change_pages')
