"""sites: the site table, `default`, and a site_num leading the keys of every table of data

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

Every existing row goes to `default` (site.num 1) through the column's default: on PostgreSQL
adding a column with a constant default rewrites nothing, and the new indexes are built once
each. SQLite cannot drop a table's UNIQUE constraint in place, so `event` is moved into a new
table a chunk at a time, each chunk deleted from the old table as it goes, in transactions of
their own (see _move_sqlite_events): the file does not grow to twice its size. The small tables
(keys, profiles, rollups, reports) are copied whole (Alembic's batch mode).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from plugin_analytics.derived.rollups import backfill, compact_all

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
MOVE_CHUNK = 200_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_COLUMNS = (
    "id", "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id",
    "properties", "occurred_at", "received_at", "model", "input_tokens", "output_tokens",
    "latency_ms",
)  # fmt: skip
# (name, columns) of event's indexes before and after; the CTA index is partial.
OLD_INDEXES = (
    ("ix_event_occurred_at", "occurred_at"),
    ("ix_event_user_id_occurred_at", "user_id, occurred_at, id"),
    ("ix_event_session_id_occurred_at", "session_id, occurred_at, id"),
    ("ix_event_cta_click_occurred_at", "occurred_at"),
)
NEW_INDEXES = (
    ("ix_event_site_num_occurred_at", "site_num, occurred_at"),
    ("ix_event_site_num_user_id", "site_num, user_id, occurred_at, id"),
    ("ix_event_site_num_session_id", "site_num, session_id, occurred_at, id"),
    ("ix_event_site_num_cta_click", "site_num, occurred_at"),
)
CTA_ONLY = " WHERE event_type = 'cta_click'"
# (table, old unique or primary key, new one, its columns) of the tables copied whole.
KEYED = (
    ("user_key", "uq_user_key_user_id", "uq_user_key_site_num_user_id", ["site_num", "user_id"]),
    (
        "session_key",
        "uq_session_key_session_id",
        "uq_session_key_site_num_session_id",
        ["site_num", "session_id"],
    ),
    ("user_profile", "pk_user_profile", "pk_user_profile", ["site_num", "user_id"]),
    ("rollup", "pk_rollup", "pk_rollup", ["site_num", "grain", "start_at"]),
    ("report", "pk_report", "pk_report", ["site_num", "week_start"]),
)


def _site_num() -> sa.Column[int]:
    return sa.Column("site_num", sa.Integer(), nullable=False, server_default=sa.text("1"))


def _event_table(name: str, with_site: bool) -> sa.Table:
    """The event table's definition as of this revision (with site_num) or the one before."""
    unique = ("site_num", "event_id") if with_site else ("event_id",)
    unique_name = "uq_event_site_num_event_id" if with_site else "uq_event_event_id"
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        *([_site_num()] if with_site else []),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("session_id", sa.String(256), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cta_id", sa.String(256), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(256), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event"),
        sa.UniqueConstraint(*unique, name=unique_name),
    )


def _move_sqlite_events(with_site: bool) -> None:
    """Move `event` into its definition of this revision (or the one before), a chunk of ids
    at a time, each chunk its own transaction followed by a checkpoint: one transaction would
    keep every page it wrote in the WAL until it commits, twice the table on disk. The pages a
    deleted chunk frees are reused by the next one. It commits the migration's transaction so
    far (the revisions before this one, whose version is then recorded), and resumes where an
    interrupted run stopped: the old table's rows not yet moved are still there."""
    bind = op.get_bind()
    bind.exec_driver_sql("COMMIT")
    old, new = (OLD_INDEXES, NEW_INDEXES) if with_site else (NEW_INDEXES, OLD_INDEXES)
    columns = [row[1] for row in bind.exec_driver_sql("PRAGMA table_info(event)")]
    if not _has_table("event_old") and ("site_num" in columns) != with_site:
        with _sqlite_transaction():
            for name, _ in old:  # their pages go to the free list, reused by the move
                bind.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            bind.exec_driver_sql("ALTER TABLE event RENAME TO event_old")
            _event_table("event", with_site).create(bind)
    if _has_table("event_old"):
        _move_chunks()
        with _sqlite_transaction():
            bind.exec_driver_sql("DROP TABLE event_old")
    for name, indexed in new:
        with _sqlite_transaction():
            partial = CTA_ONLY if "cta_click" in name else ""
            bind.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON event ({indexed}){partial}")
        bind.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    bind.exec_driver_sql("BEGIN IMMEDIATE")  # the rest of the migration, as one transaction


def _move_chunks() -> None:
    bind = op.get_bind()
    columns = ", ".join(EVENT_COLUMNS)
    while True:
        with _sqlite_transaction():
            last = bind.exec_driver_sql(
                f"SELECT max(id) FROM (SELECT id FROM event_old ORDER BY id LIMIT {MOVE_CHUNK})"
            ).scalar()
            if last is not None:
                moved = f"id <= {last}"
                bind.exec_driver_sql(
                    f"INSERT INTO event ({columns}) SELECT {columns} FROM event_old WHERE {moved}"
                )
                bind.exec_driver_sql(f"DELETE FROM event_old WHERE {moved}")
        bind.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        if last is None:
            return


@contextmanager
def _sqlite_transaction() -> Iterator[None]:
    bind = op.get_bind()
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        raise
    bind.exec_driver_sql("COMMIT")


def _has_table(name: str) -> bool:
    found = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    )
    return found.first() is not None


def _swap_event_indexes(old: Sequence[tuple[str, str]], new: Sequence[tuple[str, str]]) -> None:
    for name, _ in old:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, columns in new:
        partial = CTA_ONLY if "cta_click" in name else ""
        op.execute(f"CREATE INDEX {name} ON event ({columns}){partial}")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _move_sqlite_events(with_site=True)
    site = op.create_table(
        "site",
        sa.Column("num", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("domains", JSON_DOCUMENT, nullable=False),
        sa.Column("report_recipients", JSON_DOCUMENT, nullable=True),
        sa.Column("report_schedule", sa.String(100), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("num", name=op.f("pk_site")),
        sa.UniqueConstraint("id", name=op.f("uq_site_id")),
        # A deleted site's number is never given again (SQLite would reuse the highest).
        sqlite_autoincrement=True,
    )
    created = datetime.now(UTC)
    # The first number of an empty table is 1 on both databases; SQLite keeps times as
    # microseconds since the epoch (the app's UTCDateTime).
    at = (created - EPOCH) // timedelta(microseconds=1) if sqlite else created
    op.bulk_insert(site, [{"id": "default", "domains": [], "created_at": at}])
    if not sqlite:
        op.execute("SET LOCAL maintenance_work_mem = '256MB'")
        op.add_column("event", _site_num())
        op.execute("CREATE UNIQUE INDEX uq_event_site_num_event_id ON event (site_num, event_id)")
        op.execute("ALTER TABLE event DROP CONSTRAINT uq_event_event_id")
        op.execute(
            "ALTER TABLE event ADD CONSTRAINT uq_event_site_num_event_id "
            "UNIQUE USING INDEX uq_event_site_num_event_id"
        )
        _swap_event_indexes(OLD_INDEXES, NEW_INDEXES)
    for table, old, new, columns in KEYED:
        kind = "primary" if old.startswith("pk_") else "unique"
        with op.batch_alter_table(table) as batch:
            batch.add_column(_site_num())
            batch.drop_constraint(old, type_=kind)
            if kind == "primary":
                batch.create_primary_key(new, columns)
            else:
                batch.create_unique_constraint(new, columns)
    op.add_column("rollup_delta", _site_num())
    op.drop_index("ix_rollup_delta_start_at", "rollup_delta")
    op.create_index("ix_rollup_delta_site_num_start_at", "rollup_delta", ["site_num", "start_at"])
    op.add_column("report_attempt", _site_num())
    op.drop_index("ix_report_attempt_week_start", "report_attempt")
    op.create_index(
        "ix_report_attempt_site_num_week_start", "report_attempt", ["site_num", "week_start"]
    )
    op.add_column("api_key", sa.Column("site_num", sa.Integer(), nullable=True))
    op.execute("UPDATE api_key SET site_num = 1 WHERE kind = 'write'")
    _backfill_rollups()


def _backfill_rollups() -> None:
    """A database made before rollups existed (migration 0002) has events but no rollups:
    count them in with this release's rollup code, which fits this revision's tables. A later
    migration that changes the rollups' shape takes this over."""
    bind = op.get_bind()
    has_rollups = bind.exec_driver_sql("SELECT 1 FROM rollup LIMIT 1").first()
    has_events = bind.exec_driver_sql("SELECT 1 FROM event LIMIT 1").first()
    if has_events and not has_rollups:
        backfill(bind)


def downgrade() -> None:
    """Back to one site: only `default`'s data can be kept (other sites' ids may clash)."""
    compact_all(op.get_bind())  # no delta left for earlier downgrades to fold
    for table in ("event", "rollup", "rollup_delta", "user_key", "session_key", "user_profile"):
        op.execute(f"DELETE FROM {table} WHERE site_num <> 1")
    for table in ("report", "report_attempt"):
        op.execute(f"DELETE FROM {table} WHERE site_num <> 1")
    op.execute("DELETE FROM api_key WHERE site_num <> 1 OR kind = 'viewer'")
    if op.get_bind().dialect.name == "sqlite":
        _move_sqlite_events(with_site=False)
    op.drop_column("api_key", "site_num")
    op.drop_index("ix_report_attempt_site_num_week_start", "report_attempt")
    op.drop_column("report_attempt", "site_num")
    op.create_index("ix_report_attempt_week_start", "report_attempt", ["week_start"])
    op.drop_index("ix_rollup_delta_site_num_start_at", "rollup_delta")
    op.drop_column("rollup_delta", "site_num")
    op.create_index("ix_rollup_delta_start_at", "rollup_delta", ["start_at"])
    for table, old, new, columns in KEYED:
        kind = "primary" if old.startswith("pk_") else "unique"
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(new, type_=kind)
            batch.drop_column("site_num")
            old_columns = [column for column in columns if column != "site_num"]
            if kind == "primary":
                batch.create_primary_key(old, old_columns)
            else:
                batch.create_unique_constraint(old, old_columns)
    if op.get_bind().dialect.name != "sqlite":
        op.execute("ALTER TABLE event DROP CONSTRAINT uq_event_site_num_event_id")
        op.execute("ALTER TABLE event ADD CONSTRAINT uq_event_event_id UNIQUE (event_id)")
        _swap_event_indexes(NEW_INDEXES, OLD_INDEXES)
        op.drop_column("event", "site_num")
    op.drop_table("site")
