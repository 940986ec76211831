"""Downloads: one-use links bound to a sign-in, ZIP bundles and their files; where each
delivery went (network, owner, country), what paid for it and when it was sent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:02:12.826383
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('download_bundles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('order', 'event', 'print', name='bundle_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'ready', 'failed', 'fetched', 'expired', name='bundle_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('device_hash', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=512), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(length=255), nullable=True),
    sa.Column('byte_size', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('failure', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_download_bundles_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_download_bundles_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_download_bundles_guardian_id_guardians')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_download_bundles_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_download_bundles_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'], name=op.f('fk_download_bundles_session_id_user_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_download_bundles_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_bundles'))
    )
    op.create_index(op.f('ix_download_bundles_family_id'), 'download_bundles', ['family_id'], unique=False)
    op.create_index(op.f('ix_download_bundles_session_id'), 'download_bundles', ['session_id'], unique=False)
    op.create_index(op.f('ix_download_bundles_status'), 'download_bundles', ['status'], unique=False)
    op.create_table('download_bundle_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bundle_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('entitlement_id', sa.Integer(), nullable=True),
    sa.Column('order_item_id', sa.Integer(), nullable=True),
    sa.Column('delivery_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['bundle_id'], ['download_bundles.id'], name=op.f('fk_download_bundle_items_bundle_id_download_bundles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_download_bundle_items_delivery_id_deliveries')),
    sa.ForeignKeyConstraint(['entitlement_id'], ['entitlements.id'], name=op.f('fk_download_bundle_items_entitlement_id_entitlements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_items.id'], name=op.f('fk_download_bundle_items_order_item_id_order_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_download_bundle_items_photo_id_photos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_bundle_items')),
    sa.UniqueConstraint('bundle_id', 'photo_id', 'entitlement_id', name=op.f('uq_download_bundle_items_bundle_id_photo_id_entitlement_id'))
    )
    op.create_index(op.f('ix_download_bundle_items_bundle_id'), 'download_bundle_items', ['bundle_id'], unique=False)
    op.create_table('download_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('entitlement_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_download_links_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entitlement_id'], ['entitlements.id'], name=op.f('fk_download_links_entitlement_id_entitlements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['user_sessions.id'], name=op.f('fk_download_links_session_id_user_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_download_links')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_download_links_delivery_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_download_links_token_hash'))
    )
    op.create_index(op.f('ix_download_links_entitlement_id'), 'download_links', ['entitlement_id'], unique=False)
    op.create_index(op.f('ix_download_links_session_id'), 'download_links', ['session_id'], unique=False)
    # Earlier deliveries get empty places (the defaults only fill them and are dropped).
    with op.batch_alter_table('deliveries') as batch_op:
        for name, length in (('network', 64), ('network_owner', 64), ('country', 2)):
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('entitlement_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('bundle_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliveries_bundle_id'), ['bundle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_entitlement_id'), ['entitlement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_sent_at'), ['sent_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_bundle_id_download_bundles'), 'download_bundles', ['bundle_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_entitlement_id_entitlements'), 'entitlements', ['entitlement_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('deliveries') as batch_op:
        for name in ('network', 'network_owner', 'country'):
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('deliveries') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_deliveries_entitlement_id_entitlements'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_deliveries_bundle_id_download_bundles'), type_='foreignkey')
        for name in ('sent_at', 'entitlement_id', 'bundle_id'):
            batch_op.drop_index(batch_op.f(f'ix_deliveries_{name}'))
        for name in ('sent_at', 'bundle_id', 'entitlement_id', 'country', 'network_owner', 'network'):
            batch_op.drop_column(name)
    op.drop_index(op.f('ix_download_links_session_id'), table_name='download_links')
    op.drop_index(op.f('ix_download_links_entitlement_id'), table_name='download_links')
    op.drop_table('download_links')
    op.drop_index(op.f('ix_download_bundle_items_bundle_id'), table_name='download_bundle_items')
    op.drop_table('download_bundle_items')
    op.drop_index(op.f('ix_download_bundles_status'), table_name='download_bundles')
    op.drop_index(op.f('ix_download_bundles_session_id'), table_name='download_bundles')
    op.drop_index(op.f('ix_download_bundles_family_id'), table_name='download_bundles')
    op.drop_table('download_bundles')
