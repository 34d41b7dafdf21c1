"""intent_drafts: write-tool drafts awaiting the user's confirmation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intent_drafts",
        sa.Column("draft_id", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("intent_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("csrf_hash", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("digest", sa.Text(), nullable=True),
        sa.Column("committed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("draft_id", name=op.f("pk_intent_drafts")),
    )
    op.create_index("ix_intent_drafts_expires_at", "intent_drafts", ["expires_at"], unique=False)
    op.create_index("ix_intent_drafts_grant_status", "intent_drafts", ["grant_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_intent_drafts_grant_status", table_name="intent_drafts")
    op.drop_index("ix_intent_drafts_expires_at", table_name="intent_drafts")
    op.drop_table("intent_drafts")
