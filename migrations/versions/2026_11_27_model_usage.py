"""model usage of assistant replies: model, input_tokens, output_tokens, latency_ms

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns without a default: no rewrite of the table on either database.
    op.add_column("event", sa.Column("model", sa.String(256), nullable=True))
    op.add_column("event", sa.Column("input_tokens", sa.BigInteger(), nullable=True))
    op.add_column("event", sa.Column("output_tokens", sa.BigInteger(), nullable=True))
    op.add_column("event", sa.Column("latency_ms", sa.Double(), nullable=True))


def downgrade() -> None:
    for column in ("latency_ms", "output_tokens", "input_tokens", "model"):
        op.drop_column("event", column)  # SQLite 3.35+ drops a column in place
