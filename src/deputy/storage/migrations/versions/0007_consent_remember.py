"""consents.remember_until and flows.remembered_at: remembered consent

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remember_until", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remembered_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_column("remembered_at")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("remember_until")
