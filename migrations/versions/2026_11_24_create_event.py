"""create event

Revision ID: 0001
Revises:
Create Date: 2026-11-24 04:47:10.857541
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# UTCDateTime as of this revision: TIMESTAMPTZ, or integer microseconds on SQLite.
UTC_DATETIME = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("session_id", sa.String(length=256), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cta_id", sa.String(length=256), nullable=True),
        sa.Column("properties", JSON_DOCUMENT, nullable=True),
        sa.Column("occurred_at", UTC_DATETIME, nullable=False),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_event_id")),
    )
    op.create_index("ix_event_occurred_at", "event", ["occurred_at"])
    op.create_index("ix_event_session_id_occurred_at", "event", ["session_id", "occurred_at", "id"])
    op.create_index("ix_event_user_id_occurred_at", "event", ["user_id", "occurred_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_event_user_id_occurred_at", table_name="event")
    op.drop_index("ix_event_session_id_occurred_at", table_name="event")
    op.drop_index("ix_event_occurred_at", table_name="event")
    op.drop_table("event")
