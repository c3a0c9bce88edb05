"""Table models. Alembic reads `metadata` from here."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from plugin_analytics.db.types import BigIntId, JSONDocument, UTCDateTime
from plugin_analytics.derived.activity import BITMAPS, COUNTERS

# Stable constraint names, so migrations can name what they drop on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

ID_LENGTH = 256
# The site that stands for a single-site installation (the seed's use), made by the migration.
DEFAULT_SITE = "default"
DEFAULT_SITE_NUM = 1
# The chat event types: what the plugin sends, and what makes a user or a session active in the
# rollups. Every other event type (an SDK's page, a module's feedback) is stored as it came.
CHAT_EVENT_TYPES = ("message", "cta_click")


class Site(SQLModel, table=True):
    """A website the installation collects for. `id` is the slug the API and CLI name it by;
    every other table refers to it by `num`, a small integer that leads their keys. The name,
    zone, recipients and schedule of `default` may stay NULL: it then takes SITE_NAME,
    REPORT_TIMEZONE, REPORT_RECIPIENTS and REPORT_SCHEDULE from the environment."""

    __tablename__ = "site"
    # A deleted site's number is never given again (SQLite would reuse the highest).
    __table_args__ = {"sqlite_autoincrement": True}

    num: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    id: str = Field(sa_column=Column(String(63), nullable=False, unique=True))
    name: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    timezone: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    domains: list[str] = Field(sa_column=Column(JSONDocument, nullable=False))
    report_recipients: list[str] | None = Field(
        default=None, sa_column=Column(JSONDocument, nullable=True)
    )
    report_schedule: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    retention_days: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def _site_column(primary_key: bool = False) -> Column[int]:
    """The site a row belongs to (site.num); `default` for rows from before sites existed."""
    return Column(
        "site_num",
        Integer,
        nullable=False,
        primary_key=primary_key,
        server_default=text(str(DEFAULT_SITE_NUM)),
    )


class Event(SQLModel, table=True):
    """One chat message or CTA click, as the plugin reported it."""

    __tablename__ = "event"
    __table_args__ = (
        # An event_id is unique within its site: the same id sent to two sites is two events.
        UniqueConstraint("site_num", "event_id", name="uq_event_site_num_event_id"),
        Index("ix_event_site_num_occurred_at", "site_num", "occurred_at"),
        Index("ix_event_site_num_user_id", "site_num", "user_id", "occurred_at", "id"),
        Index("ix_event_site_num_session_id", "site_num", "session_id", "occurred_at", "id"),
        # CTA clicks are a few percent of events; the CTA report reads just them.
        Index(
            "ix_event_site_num_cta_click",
            "site_num",
            "occurred_at",
            sqlite_where=text("event_type = 'cta_click'"),
            postgresql_where=text("event_type = 'cta_click'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    site_num: int = Field(default=DEFAULT_SITE_NUM, sa_column=_site_column())
    event_id: str = Field(sa_column=Column(String(ID_LENGTH), nullable=False))
    user_id: str = Field(sa_column=Column(String(ID_LENGTH), nullable=False))
    session_id: str = Field(sa_column=Column(String(ID_LENGTH), nullable=False))
    # Our two types, or an SDK's event name (Segment `track`, PostHog `capture`), up to 256.
    # SQLite does not enforce a VARCHAR length, so there the column keeps the 64 it was made
    # with: widening it would copy the whole table (migration 0006).
    event_type: str = Field(
        sa_column=Column(String(ID_LENGTH).with_variant(String(64), "sqlite"), nullable=False)
    )
    role: str = Field(sa_column=Column(String(16), nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    cta_id: str | None = Field(default=None, sa_column=Column(String(ID_LENGTH), nullable=True))
    properties: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONDocument, nullable=True)
    )
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # An assistant's reply may say which model wrote it and what that took (migration 0007).
    model: str | None = Field(default=None, sa_column=Column(String(ID_LENGTH), nullable=True))
    input_tokens: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    output_tokens: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    latency_ms: float | None = Field(default=None, sa_column=Column(Double, nullable=True))


class UserKey(SQLModel, table=True):
    """A small number for each user_id of a site, so that rollups can hold sets of users as
    bitmaps. Numbers are unique across sites; ids only within their site."""

    __tablename__ = "user_key"
    __table_args__ = (UniqueConstraint("site_num", "user_id", name="uq_user_key_site_num_user_id"),)

    num: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    site_num: int = Field(default=DEFAULT_SITE_NUM, sa_column=_site_column())
    user_id: str = Field(sa_column=Column(String(ID_LENGTH), nullable=False))


class SessionKey(SQLModel, table=True):
    """A small number for each session_id (see UserKey)."""

    __tablename__ = "session_key"
    __table_args__ = (
        UniqueConstraint("site_num", "session_id", name="uq_session_key_site_num_session_id"),
    )

    num: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    site_num: int = Field(default=DEFAULT_SITE_NUM, sa_column=_site_column())
    session_id: str = Field(sa_column=Column(String(ID_LENGTH), nullable=False))


class UserProfile(SQLModel, table=True):
    """A user's traits (Segment `identify`, PostHog `$set`), folded from the events that carry
    them in event time order, so it can always be rebuilt from the events that remain."""

    __tablename__ = "user_profile"

    site_num: int = Field(default=DEFAULT_SITE_NUM, sa_column=_site_column(primary_key=True))
    user_id: str = Field(sa_column=Column(String(ID_LENGTH), primary_key=True))
    traits: dict[str, Any] = Field(sa_column=Column(JSONDocument, nullable=False))
    # The first and the last event folded in: (last_at, last_id, the event's row id) orders
    # what comes next, and first_at tells retention which profiles lose events when old days
    # are deleted.
    first_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


def _measure_columns() -> list[Column[Any]]:
    """A column for each rollup measure (derived/activity.py): the counters, then the bitmaps."""
    counters = [Column(name, BigInteger, nullable=False) for name in COUNTERS]
    return [*counters, *(Column(name, LargeBinary, nullable=False) for name in BITMAPS)]


# Chat activity in one UTC period (a quarter hour, an hour or a day), kept exact as events arrive
# and are erased. Sets are roaring bitmaps of UserKey/SessionKey numbers.
rollup_table = Table(
    "rollup",
    metadata,
    _site_column(primary_key=True),
    Column("grain", String(8), primary_key=True),
    Column("start_at", UTCDateTime, primary_key=True),
    *_measure_columns(),
)
# What one ingestion transaction added to one UTC quarter hour, not yet folded into the rollup
# rows. Ingestion only inserts these, so it never rewrites a rollup row; compaction folds them in
# a few at a time, and readers add the pending ones to the rows they read.
rollup_delta_table = Table(
    "rollup_delta",
    metadata,
    Column("id", BigIntId, primary_key=True),
    _site_column(),
    Column("start_at", UTCDateTime, nullable=False),
    *_measure_columns(),
    Index("ix_rollup_delta_site_num_start_at", "site_num", "start_at"),
)


class Report(SQLModel, table=True):
    """The claim on one week's report: the primary key makes the week sent once, however many
    workers ask; a sender's claim holds until `lease_until`, so a crashed sender's expires."""

    __tablename__ = "report"

    site_num: int = Field(default=DEFAULT_SITE_NUM, sa_column=_site_column(primary_key=True))
    week_start: date = Field(sa_column=Column(Date, primary_key=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))  # sending | sent | failed
    claim_token: str = Field(sa_column=Column(String(64), nullable=False))
    lease_until: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ReportAttempt(SQLModel, table=True):
    """One try at sending a week's report, kept as its history (GET /reports)."""

    __tablename__ = "report_attempt"
    __table_args__ = (Index("ix_report_attempt_site_num_week_start", "site_num", "week_start"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    site_num: int = Field(default=DEFAULT_SITE_NUM, sa_column=_site_column())
    week_start: date = Field(sa_column=Column(Date, nullable=False))
    trigger: str = Field(sa_column=Column(String(16), nullable=False))  # manual | schedule | cli
    forced: bool = Field(sa_column=Column(Boolean, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))  # sending | sent | failed
    recipients: list[str] = Field(sa_column=Column(JSONDocument, nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ApiKey(SQLModel, table=True):
    """A key made with `plugin-analytics keys create`: only its SHA-256 digest is kept, so the
    key itself is shown once. A revoked key stays, so that its id and history remain."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    kind: str = Field(sa_column=Column(String(8), nullable=False))  # write | viewer | admin
    # The site a write or viewer key belongs to; NULL for an admin key (every site).
    site_num: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    prefix: str = Field(sa_column=Column(String(16), nullable=False))  # shown to tell keys apart
    digest: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AuditEntry(SQLModel, table=True):
    """Something done to the data or to access, recorded without the data it removed: an
    erasure keeps when and how many rows, never whose."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    rows: int = Field(sa_column=Column(BigInteger, nullable=False))
    detail: dict[str, Any] = Field(sa_column=Column(JSONDocument, nullable=False))


site_table = Site.__table__  # type: ignore[attr-defined]
event_table = Event.__table__  # type: ignore[attr-defined]
user_key_table = UserKey.__table__  # type: ignore[attr-defined]
session_key_table = SessionKey.__table__  # type: ignore[attr-defined]
user_profile_table = UserProfile.__table__  # type: ignore[attr-defined]
report_table = Report.__table__  # type: ignore[attr-defined]
report_attempt_table = ReportAttempt.__table__  # type: ignore[attr-defined]
api_key_table = ApiKey.__table__  # type: ignore[attr-defined]
audit_table = AuditEntry.__table__  # type: ignore[attr-defined]
