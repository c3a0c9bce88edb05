"""rollup deltas: ingestion inserts what it adds to a period instead of rewriting the period's row

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plugin_analytics.derived.rollups import compact_all

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollup_delta",
        sa.Column("id", ID_TYPE, nullable=False),
        sa.Column("start_at", UTC_DATETIME, nullable=False),
        sa.Column("user_messages", sa.BigInteger(), nullable=False),
        sa.Column("assistant_messages", sa.BigInteger(), nullable=False),
        sa.Column("cta_clicks", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.LargeBinary(), nullable=False),
        sa.Column("sessions", sa.LargeBinary(), nullable=False),
        sa.Column("converted_sessions", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_delta")),
    )
    op.create_index("ix_rollup_delta_start_at", "rollup_delta", ["start_at"])


def downgrade() -> None:
    # The rollup rows must hold every pending delta. Later downgrades fold them first (0008),
    # with the code that fits their tables; this folds only what a database at 0003 holds.
    if op.get_bind().exec_driver_sql("SELECT 1 FROM rollup_delta LIMIT 1").first():
        compact_all(op.get_bind())
    op.drop_index("ix_rollup_delta_start_at", table_name="rollup_delta")
    op.drop_table("rollup_delta")
