"""proposals from localities and review comments

A token's scope (a proposer's province or list), who proposed a change set a central
steward adopted, and threaded comments on change sets and their operations.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_set_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('change_set_id', sa.Integer(), nullable=False),
    sa.Column('operation_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['change_set_id'], ['change_sets.id'], name=op.f('fk_change_set_comments_change_set_id_change_sets')),
    sa.ForeignKeyConstraint(['parent_id'], ['change_set_comments.id'], name=op.f('fk_change_set_comments_parent_id_change_set_comments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_set_comments'))
    )
    with op.batch_alter_table('change_set_comments', schema=None) as batch_op:
        batch_op.create_index('ix_change_set_comments_change_set', ['change_set_id'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=160), nullable=True))

    with op.batch_alter_table('change_sets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposal_scope', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('proposed_by', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('change_sets', schema=None) as batch_op:
        batch_op.drop_column('proposed_by')
        batch_op.drop_column('proposal_scope')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('scope')

    with op.batch_alter_table('change_set_comments', schema=None) as batch_op:
        batch_op.drop_index('ix_change_set_comments_change_set')

    op.drop_table('change_set_comments')
