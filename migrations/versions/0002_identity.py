"""Identity: sessions, OpenID Connect sign-ins, staff second factors, invitations, audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 11:20:17.492454
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.Enum('anonymous', 'guardian', 'staff', 'system', name='audit_actor_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('ip_prefix', sa.String(length=64), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_events_prev_hash'))
    )
    op.create_index(op.f('ix_audit_events_action'), 'audit_events', ['action'], unique=False)
    op.create_index(op.f('ix_audit_events_occurred_at'), 'audit_events', ['occurred_at'], unique=False)
    op.create_table('oidc_login_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('code_verifier', sa.String(length=128), nullable=False),
    sa.Column('next_url', sa.String(length=2000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_login_requests')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_oidc_login_requests_state_hash'))
    )
    op.create_index(op.f('ix_oidc_login_requests_expires_at'), 'oidc_login_requests', ['expires_at'], unique=False)
    op.create_table('sign_in_throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('staff_password', 'second_factor', 'invitation_claim', name='throttle_scope', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('lockouts', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_throttles')),
    sa.UniqueConstraint('scope', 'key_hash', name=op.f('uq_sign_in_throttles_scope_key_hash'))
    )
    op.create_index(op.f('ix_sign_in_throttles_last_failure_at'), 'sign_in_throttles', ['last_failure_at'], unique=False)
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_recovery_codes_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    op.create_index(op.f('ix_recovery_codes_staff_user_id'), 'recovery_codes', ['staff_user_id'], unique=False)
    op.create_table('set_password_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_set_password_links_created_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_set_password_links_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_set_password_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_set_password_links_token_hash'))
    )
    op.create_index(op.f('ix_set_password_links_staff_user_id'), 'set_password_links', ['staff_user_id'], unique=False)
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('roster', 'guardian', name='invitation_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('created_by_guardian_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by_guardian_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claimed_by_guardian_id'], ['guardians.id'], name=op.f('fk_invitations_claimed_by_guardian_id_guardians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_guardian_id'], ['guardians.id'], name=op.f('fk_invitations_created_by_guardian_id_guardians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_staff_id'], ['staff_users.id'], name=op.f('fk_invitations_created_by_staff_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_invitations_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_invitations_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_invitations_code_hash'))
    )
    op.create_index(op.f('ix_invitations_claimed_by_guardian_id'), 'invitations', ['claimed_by_guardian_id'], unique=False)
    op.create_index(op.f('ix_invitations_family_id'), 'invitations', ['family_id'], unique=False)
    op.create_index(op.f('ix_invitations_school_id'), 'invitations', ['school_id'], unique=False)
    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.Enum('active', 'second_factor', 'enrol', name='session_stage', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('user_agent_family', sa.String(length=64), nullable=False),
    sa.Column('ip_prefix', sa.String(length=64), nullable=False),
    sa.CheckConstraint('(guardian_id IS NULL) <> (staff_user_id IS NULL)', name=op.f('ck_user_sessions_exactly_one_account')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_user_sessions_guardian_id_guardians'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_user_sessions_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash'))
    )
    op.create_index(op.f('ix_user_sessions_guardian_id'), 'user_sessions', ['guardian_id'], unique=False)
    op.create_index(op.f('ix_user_sessions_staff_user_id'), 'user_sessions', ['staff_user_id'], unique=False)
    op.add_column('families', sa.Column('contact', sa.String(length=320), nullable=True))
    op.add_column('guardians', sa.Column('joined_family_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('guardians', sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('staff_users', sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.add_column('staff_users', sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True))
    _make_audit_log_append_only()


def downgrade() -> None:
    _drop_append_only_guard()
    _drop_column('staff_users', 'last_sign_in_at')
    _drop_column('staff_users', 'totp_last_step')
    _drop_column('guardians', 'last_sign_in_at')
    _drop_column('guardians', 'joined_family_at')
    _drop_column('families', 'contact')
    op.drop_index(op.f('ix_user_sessions_staff_user_id'), table_name='user_sessions')
    op.drop_index(op.f('ix_user_sessions_guardian_id'), table_name='user_sessions')
    op.drop_table('user_sessions')
    op.drop_index(op.f('ix_invitations_school_id'), table_name='invitations')
    op.drop_index(op.f('ix_invitations_family_id'), table_name='invitations')
    op.drop_index(op.f('ix_invitations_claimed_by_guardian_id'), table_name='invitations')
    op.drop_table('invitations')
    op.drop_index(op.f('ix_set_password_links_staff_user_id'), table_name='set_password_links')
    op.drop_table('set_password_links')
    op.drop_index(op.f('ix_recovery_codes_staff_user_id'), table_name='recovery_codes')
    op.drop_table('recovery_codes')
    op.drop_index(op.f('ix_sign_in_throttles_last_failure_at'), table_name='sign_in_throttles')
    op.drop_table('sign_in_throttles')
    op.drop_index(op.f('ix_oidc_login_requests_expires_at'), table_name='oidc_login_requests')
    op.drop_table('oidc_login_requests')
    op.drop_index(op.f('ix_audit_events_occurred_at'), table_name='audit_events')
    op.drop_index(op.f('ix_audit_events_action'), table_name='audit_events')
    op.drop_table('audit_events')


def _drop_column(table: str, column: str) -> None:
    # Batch mode would recreate the table on SQLite, and dropping the old copy fires the
    # ON DELETE CASCADE of every table that references it; SQLite >= 3.35 drops a plain
    # column in place instead.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        op.drop_column(table, column)


def _make_audit_log_append_only() -> None:
    # The hash chain detects tampering; these triggers stop the ordinary kinds of it.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            """
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            """
            CREATE TRIGGER audit_events_append_only
            BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
            """
        )
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(
                f"""
                CREATE TRIGGER audit_events_no_{verb.lower()}
                BEFORE {verb} ON audit_events
                BEGIN
                    SELECT RAISE(ABORT, 'audit_events is append-only');
                END
                """
            )


def _drop_append_only_guard() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS audit_events_append_only()')
    else:
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_update')
        op.execute('DROP TRIGGER IF EXISTS audit_events_no_delete')
