"""Actions a case can take and undo: a family's downloads suspended, the case escalated to
the platform operator. The outbox of outgoing mail, and the one-time code of a guard
step-up. And on PostgreSQL, TRUNCATE of the audit log refused: the row triggers of 0002
do not fire for it.

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
    op.create_table('outgoing_mail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outgoing_mail'))
    )
    op.create_index(op.f('ix_outgoing_mail_created_at'), 'outgoing_mail', ['created_at'], unique=False)
    op.create_index(op.f('ix_outgoing_mail_kind'), 'outgoing_mail', ['kind'], unique=False)
    op.create_index(op.f('ix_outgoing_mail_sent_at'), 'outgoing_mail', ['sent_at'], unique=False)
    with op.batch_alter_table('guard_step_ups') as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('code_sent_to', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('code_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.alter_column('verified_at', existing_type=sa.DateTime(timezone=True), nullable=True)
    with op.batch_alter_table('guard_step_ups') as batch_op:
        batch_op.alter_column('code_attempts', server_default=None)
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
    op.execute('DELETE FROM guard_step_ups WHERE verified_at IS NULL')
    with op.batch_alter_table('guard_step_ups') as batch_op:
        batch_op.alter_column('verified_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_column('code_attempts')
        batch_op.drop_column('code_expires_at')
        batch_op.drop_column('code_sent_to')
        batch_op.drop_column('code_hash')
    op.drop_index(op.f('ix_outgoing_mail_sent_at'), table_name='outgoing_mail')
    op.drop_index(op.f('ix_outgoing_mail_kind'), table_name='outgoing_mail')
    op.drop_index(op.f('ix_outgoing_mail_created_at'), table_name='outgoing_mail')
    op.drop_table('outgoing_mail')
    with op.batch_alter_table('investigations') as batch_op:
        batch_op.drop_constraint(op.f('fk_investigations_escalated_by_id_staff_users'), type_='foreignkey')
        batch_op.drop_column('escalated_by_id')
        batch_op.drop_column('escalated_at')
    op.drop_index(op.f('ix_download_suspensions_investigation_id'), table_name='download_suspensions')
    op.drop_index(op.f('ix_download_suspensions_family_id'), table_name='download_suspensions')
    op.drop_table('download_suspensions')
