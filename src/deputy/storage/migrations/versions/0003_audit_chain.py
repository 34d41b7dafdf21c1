"""audit log HMAC chain: per-entry MAC, key id and request id, and the signed head

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Entries already in the log cannot be chained here (a migration holds no key): they stay as they are, with a NULL
MAC, and ``deputy audit verify`` counts them as legacy. The head starts at the last of them with no MAC, so the
first chained entry takes the next seq and links to the genesis value.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # seq is assigned by the appender from now on; a serial default would only let an unchained row in.
        op.alter_column(
            "audit_events",
            "seq",
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=False,
            server_default=None,
        )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("head_mac", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.execute("INSERT INTO audit_head (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_events")


def downgrade() -> None:
    op.drop_table("audit_head")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_events", "seq", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False
        )
        op.execute("SELECT setval('audit_events_seq_seq', COALESCE((SELECT MAX(seq) FROM audit_events), 0) + 1, false)")
        op.execute("ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT nextval('audit_events_seq_seq')")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("mac")
        batch_op.drop_column("key_id")
        batch_op.drop_column("request_id")
