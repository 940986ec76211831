"""Hardening: TOTP seeds sealed (wider column), enrolment seeds kept on the server, and the
per-account failure count of staff sign-in.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SCOPES = "scope IN ('staff_password', 'second_factor', 'invitation_claim')"
NEW_SCOPES = "scope IN ('staff_password', 'second_factor', 'invitation_claim', 'staff_account')"


def upgrade() -> None:
    # Existing plain seeds keep working and are sealed at their next use or by
    # `photogate keys rewrap`; the migration itself never sees a key.
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=255)
        )
    op.add_column('user_sessions', sa.Column('pending_totp_secret', sa.String(length=255), nullable=True))
    with op.batch_alter_table('sign_in_throttles') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_sign_in_throttles_throttle_scope'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_sign_in_throttles_throttle_scope'), sa.text(NEW_SCOPES))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM sign_in_throttles WHERE scope = 'staff_account'"))
    with op.batch_alter_table('sign_in_throttles') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_sign_in_throttles_throttle_scope'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_sign_in_throttles_throttle_scope'), sa.text(OLD_SCOPES))
    with op.batch_alter_table('user_sessions') as batch_op:
        batch_op.drop_column('pending_totp_secret')
    # Sealed seeds do not fit the old column; staff enrol their authenticator again.
    op.execute(sa.text("UPDATE staff_users SET totp_secret = NULL WHERE length(totp_secret) > 64"))
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=255), type_=sa.String(length=64)
        )
