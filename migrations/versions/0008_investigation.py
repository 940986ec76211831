"""Leak investigations: cases with their suspect, results and verdict; the crop-robust
feature index of photos.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('investigations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('investigator_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('open', 'closed', name='investigation_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('suspect_sha256', sa.String(length=64), nullable=False),
    sa.Column('suspect_bytes', sa.Integer(), nullable=False),
    sa.Column('suspect_format', sa.String(length=16), nullable=False),
    sa.Column('suspect_width', sa.Integer(), nullable=False),
    sa.Column('suspect_height', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(length=255), nullable=False),
    sa.Column('suspect_phash', sa.String(length=16), nullable=True),
    sa.Column('suspect_dhash', sa.String(length=16), nullable=True),
    sa.Column('verdict', sa.Enum('delivery', 'photo', 'no_match', name='investigation_verdict', native_enum=False, create_constraint=True, length=16), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('key_id', sa.String(length=32), nullable=True),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('searched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_investigations_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['investigator_id'], ['staff_users.id'], name=op.f('fk_investigations_investigator_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_investigations_photo_id_photos'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_investigations_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_investigations'))
    )
    for column in ('created_at', 'delivery_id', 'investigator_id', 'photo_id', 'school_id', 'suspect_sha256'):
        op.create_index(op.f(f'ix_investigations_{column}'), 'investigations', [column], unique=False)
    op.create_table('photo_features',
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('points', sa.LargeBinary(), nullable=False),
    sa.Column('descriptors', sa.LargeBinary(), nullable=False),
    sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_photo_features_photo_id_photos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('photo_id', name=op.f('pk_photo_features'))
    )


def downgrade() -> None:
    op.drop_table('photo_features')
    for column in ('created_at', 'delivery_id', 'investigator_id', 'photo_id', 'school_id', 'suspect_sha256'):
        op.drop_index(op.f(f'ix_investigations_{column}'), table_name='investigations')
    op.drop_table('investigations')
