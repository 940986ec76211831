"""Feature index made at ingest: each row says which points it holds (1 = the preview's
only, as rows made before this revision; 2 = the preview's and tiles of the master's), so
``photogate studio reindex`` can find the rows to remake.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:52:58.611015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('photo_features') as batch_op:
        batch_op.add_column(
            sa.Column('scheme', sa.Integer(), server_default=sa.text('1'), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('photo_features') as batch_op:
        batch_op.drop_column('scheme')
