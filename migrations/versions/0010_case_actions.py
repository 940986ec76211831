"""Actions a case can take and undo: a family's downloads suspended, the case escalated to
the platform operator. And on PostgreSQL, TRUNCATE of the audit log refused: the row
triggers of 0002 do not fire for it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:45:40.926694
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('download_suspensions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('investigation_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_download_suspensions_created_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_download_suspensions_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['investigation_id'], ['investigations.id'], name=op.f('fk_download_suspensions_investigation_id_investigations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['staff_users.id'], name=op.f('fk_download_suspensions_lifted_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_suspensions'))
    )
    op.create_index(op.f('ix_download_suspensions_family_id'), 'download_suspensions', ['family_id'], unique=False)
    op.create_index(op.f('ix_download_suspensions_investigation_id'), 'download_suspensions', ['investigation_id'], unique=False)
    with op.batch_alter_table('investigations') as batch_op:
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_investigations_escalated_by_id_staff_users'), 'staff_users', ['escalated_by_id'], ['id'], ondelete='SET NULL')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            """
            CREATE TRIGGER audit_events_no_truncate
            BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events')
    with op.batch_alter_table('investigations') as batch_op:
        batch_op.drop_constraint(op.f('fk_investigations_escalated_by_id_staff_users'), type_='foreignkey')
        batch_op.drop_column('escalated_by_id')
        batch_op.drop_column('escalated_at')
    op.drop_index(op.f('ix_download_suspensions_investigation_id'), table_name='download_suspensions')
    op.drop_index(op.f('ix_download_suspensions_family_id'), table_name='download_suspensions')
    op.drop_table('download_suspensions')
