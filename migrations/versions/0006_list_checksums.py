"""list checksums kept at publish time, and the superseded rows' index they need

Lists published before this revision get their first row from the next release that
changes them (computed once from their rows); until then their checksums are computed on
demand, as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('list_checksums',
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('versions', sa.Integer(), nullable=False),
    sa.Column('links', sa.Integer(), nullable=False),
    sa.Column('versions_sum', sa.String(length=64), nullable=False),
    sa.Column('links_sum', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['code_lists.id'],
                            name=op.f('fk_list_checksums_list_id_code_lists')),
    sa.ForeignKeyConstraint(['release_id'], ['releases.id'],
                            name=op.f('fk_list_checksums_release_id_releases')),
    sa.PrimaryKeyConstraint('list_id', 'release_id', name=op.f('pk_list_checksums'))
    )
    with op.batch_alter_table('entry_versions', schema=None) as batch_op:
        batch_op.create_index('ix_entry_versions_superseded', ['superseded_release'],
                              unique=False,
                              postgresql_where=sa.text('superseded_release IS NOT NULL'),
                              sqlite_where=sa.text('superseded_release IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('entry_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_versions_superseded',
                            postgresql_where=sa.text('superseded_release IS NOT NULL'),
                            sqlite_where=sa.text('superseded_release IS NOT NULL'))
    op.drop_table('list_checksums')
