"""user profiles (traits from Segment identify and PostHog $set); SDK event names up to 256

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "user_profile",
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("traits", JSON_DOCUMENT, nullable=False),
        sa.Column("first_at", UTC_DATETIME, nullable=True),
        sa.Column("last_at", UTC_DATETIME, nullable=True),
        sa.Column("last_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_profile")),
    )
    # PostgreSQL only: widening a varchar changes the catalogue, not the rows. SQLite does not
    # enforce a VARCHAR length, and altering it there would copy the whole event table.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("event", "event_type", type_=sa.String(256), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("event", "event_type", type_=sa.String(64), existing_nullable=False)
    op.drop_table("user_profile")
