"""composite keys tie versions to their entry and release

A version copies its entry's list and code, and its release's change set. Two composite
foreign keys hold the copies equal to their sources, in place of four single-column keys
that checked only that the referenced rows existed: stronger, and half the checks per
inserted version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 05:25:10.232436
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The referenced keys first: a foreign key needs a unique constraint to point at.
    with op.batch_alter_table('entries', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_entries_identity', ['id', 'list_id', 'code'])
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_releases_change_set', ['id', 'change_set_id'])
        batch_op.create_foreign_key(batch_op.f('fk_releases_change_set_id_change_sets'),
                                    'change_sets', ['change_set_id'], ['id'])
    with op.batch_alter_table('entry_versions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_entry_versions_recorded_release_releases'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_entry_versions_list_id_code_lists'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_entry_versions_entry_id_entries'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_entry_versions_change_set_id_change_sets'),
                                 type_='foreignkey')
        batch_op.alter_column('change_set_id', existing_type=sa.INTEGER(), nullable=False)
        batch_op.create_foreign_key('fk_entry_versions_entry_id_entries', 'entries',
                                    ['entry_id', 'list_id', 'code'], ['id', 'list_id', 'code'])
        batch_op.create_foreign_key('fk_entry_versions_recorded_release_releases', 'releases',
                                    ['recorded_release', 'change_set_id'],
                                    ['id', 'change_set_id'])


def downgrade() -> None:
    with op.batch_alter_table('entry_versions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_entry_versions_recorded_release_releases',
                                 type_='foreignkey')
        batch_op.drop_constraint('fk_entry_versions_entry_id_entries', type_='foreignkey')
        batch_op.alter_column('change_set_id', existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_entry_versions_change_set_id_change_sets'),
                                    'change_sets', ['change_set_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_entry_versions_entry_id_entries'),
                                    'entries', ['entry_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_entry_versions_list_id_code_lists'),
                                    'code_lists', ['list_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_entry_versions_recorded_release_releases'),
                                    'releases', ['recorded_release'], ['id'])
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_releases_change_set_id_change_sets'),
                                 type_='foreignkey')
        batch_op.drop_constraint('uq_releases_change_set', type_='unique')
    with op.batch_alter_table('entries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_entries_identity', type_='unique')
