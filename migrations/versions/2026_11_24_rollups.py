"""rollups: per-period counts and user/session bitmaps, and the CTA click index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CTA_CLICKS = sa.text("event_type = 'cta_click'")
UTC_DATETIME = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollup",
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("start_at", UTC_DATETIME, nullable=False),
        sa.Column("user_messages", sa.BigInteger(), nullable=False),
        sa.Column("assistant_messages", sa.BigInteger(), nullable=False),
        sa.Column("cta_clicks", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.LargeBinary(), nullable=False),
        sa.Column("sessions", sa.LargeBinary(), nullable=False),
        sa.Column("converted_sessions", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "start_at", name=op.f("pk_rollup")),
    )
    op.create_table(
        "session_key",
        sa.Column("num", ID_TYPE, nullable=False),
        sa.Column("session_id", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("num", name=op.f("pk_session_key")),
        sa.UniqueConstraint("session_id", name=op.f("uq_session_key_session_id")),
    )
    op.create_table(
        "user_key",
        sa.Column("num", ID_TYPE, nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("num", name=op.f("pk_user_key")),
        sa.UniqueConstraint("user_id", name=op.f("uq_user_key_user_id")),
    )
    op.create_index(
        "ix_event_cta_click_occurred_at",
        "event",
        ["occurred_at"],
        sqlite_where=CTA_CLICKS,
        postgresql_where=CTA_CLICKS,
    )
    # Events stored before rollups existed are counted in by the latest migration that changes
    # the rollups' shape (now 0008, sites), with the rollup code of the release it belongs to:
    # the code of this revision is gone.


def downgrade() -> None:
    op.drop_index("ix_event_cta_click_occurred_at", table_name="event")
    op.drop_table("user_key")
    op.drop_table("session_key")
    op.drop_table("rollup")
