"""Deliveries: every marked copy of a photo that left the server (the watermark's payloads);
albums may name the class they show.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 01:07:33.741406
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mark', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Enum('preview', 'download', 'print', 'staff', name='delivery_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('device_hash', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=512), nullable=False),
    sa.Column('browser', sa.String(length=64), nullable=False),
    sa.Column('os', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('preview_day', sa.Date(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('byte_size', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_deliveries_family_id_families')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_deliveries_guardian_id_guardians')),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_deliveries_photo_id_photos')),
    sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'], name=op.f('fk_deliveries_session_id_user_sessions')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_deliveries_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('guardian_id', 'photo_id', 'preview_day', name=op.f('uq_deliveries_guardian_id_photo_id_preview_day')),
    sa.UniqueConstraint('mark', name=op.f('uq_deliveries_mark'))
    )
    for column in ('created_at', 'family_id', 'guardian_id', 'photo_id', 'staff_user_id'):
        op.create_index(op.f(f'ix_deliveries_{column}'), 'deliveries', [column], unique=False)
    # Albums are referenced by photos, so SQLite's table rebuild (foreign keys are off
    # while migrating, see env.py) keeps them intact.
    with op.batch_alter_table('albums') as batch_op:
        batch_op.add_column(sa.Column('classroom_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_albums_classroom_id'), ['classroom_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_albums_classroom_id_classrooms'), 'classrooms', ['classroom_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('albums') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_albums_classroom_id_classrooms'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_albums_classroom_id'))
        batch_op.drop_column('classroom_id')
    for column in ('created_at', 'family_id', 'guardian_id', 'photo_id', 'staff_user_id'):
        op.drop_index(op.f(f'ix_deliveries_{column}'), table_name='deliveries')
    op.drop_table('deliveries')
