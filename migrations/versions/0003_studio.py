"""Studio: albums, API tokens, photo processing and moderation columns, deletion records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:27:04.380742
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('pending', 'ready', 'failed')"
NEW_STATUSES = "status IN ('pending', 'ready', 'failed', 'purged')"

PHOTO_COLUMNS = (
    ('wrapped_key', sa.LargeBinary(length=255)),
    ('album_id', sa.Integer()),
    ('uploaded_by_id', sa.Integer()),
    ('original_filename', sa.String(length=255)),
    ('failure_code', sa.String(length=32)),
    ('queued_at', sa.DateTime(timezone=True)),
    ('processed_at', sa.DateTime(timezone=True)),
    ('phash', sa.String(length=16)),
    ('dhash', sa.String(length=16)),
    ('withheld_at', sa.DateTime(timezone=True)),
    ('withheld_reason', sa.String(length=200)),
    ('withheld_by_id', sa.Integer()),
    ('purged_at', sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table('photo_deletions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('details', sa.String(length=500), nullable=False),
    sa.Column('deleted_by_id', sa.Integer(), nullable=True),
    sa.Column('blobs_deleted', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_deletions'))
    )
    op.create_index(op.f('ix_photo_deletions_deleted_at'), 'photo_deletions', ['deleted_at'], unique=False)
    op.create_index(op.f('ix_photo_deletions_event_id'), 'photo_deletions', ['event_id'], unique=False)
    op.create_index(op.f('ix_photo_deletions_photo_id'), 'photo_deletions', ['photo_id'], unique=False)
    op.create_index(op.f('ix_photo_deletions_school_id'), 'photo_deletions', ['school_id'], unique=False)
    op.create_table('albums',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_albums_created_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_albums_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_albums')),
    sa.UniqueConstraint('event_id', 'name', name=op.f('uq_albums_event_id_name'))
    )
    op.create_index(op.f('ix_albums_event_id'), 'albums', ['event_id'], unique=False)
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_api_tokens_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index(op.f('ix_api_tokens_staff_user_id'), 'api_tokens', ['staff_user_id'], unique=False)

    # Plain ADD COLUMN on every backend: events must never be rebuilt on SQLite, where
    # dropping the old copy would cascade into photos, classrooms and photographers.
    op.add_column('events', sa.Column('hold_new_uploads', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('events', sa.Column('retention_days', sa.Integer(), nullable=True))

    # SQLite cannot add foreign keys or change a CHECK in place, so batch mode rebuilds
    # photos there. That is safe at this revision: no table references photos yet.
    with op.batch_alter_table('photos') as batch_op:
        for name, type_ in PHOTO_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_index(batch_op.f('ix_photos_album_id'), ['album_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photos_uploaded_by_id'), ['uploaded_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_photos_album_id_albums'), 'albums', ['album_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_photos_uploaded_by_id_staff_users'), 'staff_users', ['uploaded_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_photos_withheld_by_id_staff_users'), 'staff_users', ['withheld_by_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_constraint(batch_op.f('ck_photos_photo_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_photos_photo_status'), sa.text(NEW_STATUSES))


def downgrade() -> None:
    op.execute(sa.text("UPDATE photos SET status = 'failed' WHERE status = 'purged'"))
    with op.batch_alter_table('photos') as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_photos_photo_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_photos_photo_status'), sa.text(OLD_STATUSES))
        batch_op.drop_constraint(batch_op.f('fk_photos_album_id_albums'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_photos_uploaded_by_id_staff_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_photos_withheld_by_id_staff_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_photos_uploaded_by_id'))
        batch_op.drop_index(batch_op.f('ix_photos_album_id'))
        for name, _ in reversed(PHOTO_COLUMNS):
            batch_op.drop_column(name)
    _drop_column('events', 'retention_days')
    _drop_column('events', 'hold_new_uploads')
    op.drop_index(op.f('ix_api_tokens_staff_user_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_index(op.f('ix_albums_event_id'), table_name='albums')
    op.drop_table('albums')
    op.drop_index(op.f('ix_photo_deletions_school_id'), table_name='photo_deletions')
    op.drop_index(op.f('ix_photo_deletions_photo_id'), table_name='photo_deletions')
    op.drop_index(op.f('ix_photo_deletions_event_id'), table_name='photo_deletions')
    op.drop_index(op.f('ix_photo_deletions_deleted_at'), table_name='photo_deletions')
    op.drop_table('photo_deletions')


def _drop_column(table: str, column: str) -> None:
    # As in upgrade: a rebuilt events table would cascade; SQLite >= 3.35 drops in place.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    else:
        op.drop_column(table, column)
