"""Orders: price lists, carts, orders and their lines, payment notifications, entitlements;
the seller and qualified-invoice registration number on each school.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:46:54.586486
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('price_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('downloads_allowed', sa.Integer(), nullable=False),
    sa.Column('download_days', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_price_lists_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_price_lists_updated_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_lists')),
    sa.UniqueConstraint('event_id', name=op.f('uq_price_lists_event_id'))
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('pending', 'paid', 'cancelled', 'expired', 'refunded', name='order_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('payment_method', sa.Enum('invoice', 'stripe', name='payment_method', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('buyer_name', sa.String(length=200), nullable=False),
    sa.Column('total_yen', sa.Integer(), nullable=False),
    sa.Column('tax_yen', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_via', sa.String(length=32), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('provider_reference', sa.String(length=255), nullable=True),
    sa.CheckConstraint('total_yen >= 0', name=op.f('ck_orders_non_negative_total')),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_orders_family_id_families')),
    sa.ForeignKeyConstraint(['handled_by_id'], ['staff_users.id'], name=op.f('fk_orders_handled_by_id_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['placed_by_id'], ['guardians.id'], name=op.f('fk_orders_placed_by_id_guardians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_orders_school_id_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('family_id', 'idempotency_key', name=op.f('uq_orders_family_id_idempotency_key')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number')),
    sa.UniqueConstraint('provider_reference', name=op.f('uq_orders_provider_reference'))
    )
    op.create_index(op.f('ix_orders_created_at'), 'orders', ['created_at'], unique=False)
    op.create_index(op.f('ix_orders_family_id'), 'orders', ['family_id'], unique=False)
    op.create_index(op.f('ix_orders_school_id'), 'orders', ['school_id'], unique=False)
    op.create_index(op.f('ix_orders_status'), 'orders', ['status'], unique=False)
    op.create_table('prices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('price_list_id', sa.Integer(), nullable=False),
    sa.Column('product', sa.Enum('digital', 'print_l', 'print_2l', 'print_6giri', 'print_a4', name='product', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('amount_yen', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount_yen > 0', name=op.f('ck_prices_positive_amount')),
    sa.ForeignKeyConstraint(['price_list_id'], ['price_lists.id'], name=op.f('fk_prices_price_list_id_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prices')),
    sa.UniqueConstraint('price_list_id', 'product', name=op.f('uq_prices_price_list_id_product'))
    )
    op.create_index(op.f('ix_prices_price_list_id'), 'prices', ['price_list_id'], unique=False)
    op.create_table('cart_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('product', sa.Enum('digital', 'print_l', 'print_2l', 'print_6giri', 'print_a4', name='product', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_cart_items_positive_quantity')),
    sa.ForeignKeyConstraint(['added_by_id'], ['guardians.id'], name=op.f('fk_cart_items_added_by_id_guardians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_cart_items_family_id_families'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_cart_items_photo_id_photos'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_items')),
    sa.UniqueConstraint('family_id', 'photo_id', 'product', name=op.f('uq_cart_items_family_id_photo_id_product'))
    )
    op.create_index(op.f('ix_cart_items_family_id'), 'cart_items', ['family_id'], unique=False)
    op.create_table('order_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('product', sa.Enum('digital', 'print_l', 'print_2l', 'print_6giri', 'print_a4', name='product', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_yen', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_items_positive_quantity')),
    sa.CheckConstraint('unit_price_yen > 0', name=op.f('ck_order_items_positive_price')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_order_items_event_id_events')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_items_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_order_items_photo_id_photos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_items'))
    )
    op.create_index(op.f('ix_order_items_event_id'), 'order_items', ['event_id'], unique=False)
    op.create_index(op.f('ix_order_items_order_id'), 'order_items', ['order_id'], unique=False)
    op.create_index(op.f('ix_order_items_photo_id'), 'order_items', ['photo_id'], unique=False)
    op.create_table('payment_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.Enum('invoice', 'stripe', name='payment_method', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payment_events_order_id_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_events')),
    sa.UniqueConstraint('provider', 'event_id', name=op.f('uq_payment_events_provider_event_id'))
    )
    op.create_table('entitlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('order_item_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('downloads_allowed', sa.Integer(), nullable=False),
    sa.Column('downloads_used', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('downloads_used <= downloads_allowed', name=op.f('ck_entitlements_within_allowance')),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], name=op.f('fk_entitlements_family_id_families')),
    sa.ForeignKeyConstraint(['order_item_id'], ['order_items.id'], name=op.f('fk_entitlements_order_item_id_order_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_entitlements_photo_id_photos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlements')),
    sa.UniqueConstraint('order_item_id', name=op.f('uq_entitlements_order_item_id'))
    )
    op.create_index(op.f('ix_entitlements_family_id'), 'entitlements', ['family_id'], unique=False)
    op.create_index(op.f('ix_entitlements_photo_id'), 'entitlements', ['photo_id'], unique=False)
    # Existing schools get an empty seller name (receipts then name the school itself); the
    # default exists only to fill those rows and is dropped again.
    with op.batch_alter_table('schools') as batch_op:
        batch_op.add_column(sa.Column('seller_name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('invoice_registration', sa.String(length=14), nullable=True))
    with op.batch_alter_table('schools') as batch_op:
        batch_op.alter_column('seller_name', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('schools') as batch_op:
        batch_op.drop_column('invoice_registration')
        batch_op.drop_column('seller_name')
    op.drop_index(op.f('ix_entitlements_photo_id'), table_name='entitlements')
    op.drop_index(op.f('ix_entitlements_family_id'), table_name='entitlements')
    op.drop_table('entitlements')
    op.drop_table('payment_events')
    op.drop_index(op.f('ix_order_items_photo_id'), table_name='order_items')
    op.drop_index(op.f('ix_order_items_order_id'), table_name='order_items')
    op.drop_index(op.f('ix_order_items_event_id'), table_name='order_items')
    op.drop_table('order_items')
    op.drop_index(op.f('ix_cart_items_family_id'), table_name='cart_items')
    op.drop_table('cart_items')
    op.drop_index(op.f('ix_prices_price_list_id'), table_name='prices')
    op.drop_table('prices')
    op.drop_index(op.f('ix_orders_status'), table_name='orders')
    op.drop_index(op.f('ix_orders_school_id'), table_name='orders')
    op.drop_index(op.f('ix_orders_family_id'), table_name='orders')
    op.drop_index(op.f('ix_orders_created_at'), table_name='orders')
    op.drop_table('orders')
    op.drop_table('price_lists')
