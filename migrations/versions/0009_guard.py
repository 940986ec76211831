"""Guard: alerts with their evidence and ladder step, the holds that enforce a response,
step-ups completed at the provider, and known-household dismissals. The signals
themselves live in Redis or in process, not here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:51:21.945443
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('guard_households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=200), nullable=False),
    sa.Column('member', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_guard_households_created_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guard_households')),
    sa.UniqueConstraint('entity', 'member', name=op.f('uq_guard_households_entity_member'))
    )
    with op.batch_alter_table('guard_households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_households_entity'), ['entity'], unique=False)

    op.create_table('guard_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=16), nullable=False),
    sa.Column('entity', sa.String(length=200), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('step', sa.Enum('log', 'notice', 'step_up', 'block', 'revoke', name='guard_step', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('timeline', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('open', 'dismissed', 'lifted', name='guard_alert_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_guard_alerts_guardian_id_guardians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['staff_users.id'], name=op.f('fk_guard_alerts_resolved_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_guard_alerts_school_id_schools'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guard_alerts')),
    sa.UniqueConstraint('reference', name=op.f('uq_guard_alerts_reference'))
    )
    with op.batch_alter_table('guard_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_alerts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_guard_alerts_entity'), ['entity'], unique=False)
        batch_op.create_index(batch_op.f('ix_guard_alerts_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guard_alerts_school_id'), ['school_id'], unique=False)

    op.create_table('guard_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('entity', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('step_up', 'block', 'suspend', name='guard_hold_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['guard_alerts.id'], name=op.f('fk_guard_holds_alert_id_guard_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guard_holds'))
    )
    with op.batch_alter_table('guard_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_holds_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guard_holds_entity'), ['entity'], unique=False)

    op.create_table('guard_step_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_guard_step_ups_guardian_id_guardians'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'], name=op.f('fk_guard_step_ups_session_id_user_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guard_step_ups')),
    sa.UniqueConstraint('session_id', name=op.f('uq_guard_step_ups_session_id'))
    )
    with op.batch_alter_table('guard_step_ups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guard_step_ups_guardian_id'), ['guardian_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('guard_step_ups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_step_ups_guardian_id'))

    op.drop_table('guard_step_ups')
    with op.batch_alter_table('guard_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_holds_entity'))
        batch_op.drop_index(batch_op.f('ix_guard_holds_alert_id'))

    op.drop_table('guard_holds')
    with op.batch_alter_table('guard_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_alerts_school_id'))
        batch_op.drop_index(batch_op.f('ix_guard_alerts_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_guard_alerts_entity'))
        batch_op.drop_index(batch_op.f('ix_guard_alerts_created_at'))

    op.drop_table('guard_alerts')
    with op.batch_alter_table('guard_households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guard_households_entity'))

    op.drop_table('guard_households')
