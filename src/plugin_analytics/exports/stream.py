"""Reading events for an export: one query, streamed from a database cursor in chunks (a
server-side cursor on PostgreSQL), never the whole result in memory."""

import json
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Select, cast, func, select, type_coerce

from plugin_analytics.analytics.ranges import check_dates, local_midnight_us, time_zone
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.exports.formats import (
    ALL_FIELDS,
    CSV_COLUMNS,
    CsvEncoder,
    Format,
    Gzip,
    Identity,
    UtcText,
    event_cells,
    ndjson_lines,
)
from plugin_analytics.sites.registry import Site

CHUNK_ROWS = 2000


@dataclass(frozen=True)
class ExportFilter:
    site_num: int  # one site's events
    site_id: str  # what NDJSON calls it
    start_us: int | None = None  # inclusive
    end_us: int | None = None  # exclusive
    event_type: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class ExportSpec:
    format: Format = "csv"
    gzip: bool = False
    escape_formulas: bool = True
    bom: bool = False


def export_filter(
    site: Site,
    start_date: date | None,
    end_date: date | None,
    tz: str | None,
    *,
    event_type: str | None = None,
    user_id: str | None = None,
) -> ExportFilter:
    """The site's events over whole days in `tz` (default: the site's zone), either end open;
    400 for an unknown zone or an inverted range."""
    zone = time_zone(tz or site.timezone)
    check_dates(start_date, end_date)
    return ExportFilter(
        site_num=site.num,
        site_id=site.id,
        start_us=local_midnight_us(start_date, zone) if start_date else None,
        end_us=local_midnight_us(end_date + timedelta(days=1), zone) if end_date else None,
        event_type=event_type,
        user_id=user_id,
    )


def _where(query: Select[Any], where: ExportFilter) -> Select[Any]:
    event = event_table
    query = query.where(event.c.site_num == where.site_num)
    if where.start_us is not None:
        query = query.where(event.c.occurred_at >= from_epoch_us(where.start_us))
    if where.end_us is not None:
        query = query.where(event.c.occurred_at < from_epoch_us(where.end_us))
    if where.event_type is not None:
        query = query.where(event.c.event_type == where.event_type)
    if where.user_id is not None:
        query = query.where(event.c.user_id == where.user_id)
    return query


def _columns(names: tuple[str, ...], dialect: str) -> list[Any]:
    # Times as integer microseconds since the epoch on both databases (SQLite stores them so),
    # made into text once, in UtcText, instead of through a datetime on the way.
    renamed = {"timestamp": "occurred_at"}
    columns = []
    for name in names:
        column = event_table.c[renamed.get(name, name)]
        if name in ("timestamp", "received_at"):
            if dialect == "postgresql":
                column = cast(func.extract("epoch", column) * 1_000_000, BigInteger)
            else:
                column = type_coerce(column, BigInteger)
            column = column.label(name)
        columns.append(column)
    return columns


def count_events(connection: Connection, where: ExportFilter) -> int:
    query = _where(select(func.count()).select_from(event_table), where)
    return int(connection.execute(query).scalar_one())


def export_chunks(
    engine: Engine,
    where: ExportFilter,
    spec: ExportSpec,
    on_rows: Callable[[int], None] | None = None,
) -> Generator[bytes, None, None]:
    """The export's bytes, a chunk of rows at a time, in event time order (`on_rows` is told
    each chunk's row count). Closing the generator early (a client that went away) closes the
    cursor and ends the transaction."""
    fields = CSV_COLUMNS if spec.format == "csv" else ALL_FIELDS
    query = _where(select(*_columns(fields, engine.dialect.name)), where).order_by(
        event_table.c.occurred_at, event_table.c.id
    )
    encoder = Gzip() if spec.gzip else Identity()
    # The cursor is closed first, then the transaction ends, however the export ends.
    with (
        engine.connect() as connection,
        connection.begin(),
        closing(_driver_rows(connection, query)) as cursor_rows,
    ):
        chunks = _counted(cursor_rows, on_rows)
        if spec.format == "csv":
            csv_encoder = CsvEncoder(fields, bom=spec.bom)
            yield encoder.feed(csv_encoder.header().encode())
            for rows in chunks:
                text = csv_encoder.rows(event_cells(rows, spec.escape_formulas))
                yield encoder.feed(text.encode())
        else:
            utc_text = UtcText()
            for rows in chunks:
                objects = (dict(zip(fields, row, strict=True)) for row in rows)
                lines = ndjson_lines(
                    {
                        **row,
                        "timestamp": utc_text(row["timestamp"]),
                        "received_at": utc_text(row["received_at"]),
                        "properties": _document(row["properties"]),
                        "site": where.site_id,
                    }
                    for row in objects
                )
                yield encoder.feed(lines.encode())
        yield encoder.finish()


def _document(properties: Any) -> Any:
    """A JSON column from the driver: psycopg decodes JSONB, sqlite3 hands over the text."""
    return json.loads(properties) if isinstance(properties, str) else properties


def _driver_rows(
    connection: Connection, query: Select[Any]
) -> Generator[Sequence[Any], None, None]:
    """The query's rows as the driver's tuples, CHUNK_ROWS at a time. Reading the DBAPI cursor
    directly skips SQLAlchemy's Row objects, a third of an export's time. PostgreSQL: a named
    (server-side) cursor, so the server keeps the result; SQLite steps through it anyway."""
    if connection.dialect.name == "postgresql":
        compiled = query.compile(dialect=connection.dialect)
        # Bound values here are strings and aware UTC datetimes, which psycopg takes as they
        # are: UTCDateTime's bind processing on PostgreSQL would not change them.
        driver = connection.connection.dbapi_connection
        assert driver is not None
        with closing(driver.cursor(name="export")) as cursor:
            cursor.execute(str(compiled), compiled.params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                yield rows
    else:
        result = connection.execute(query)
        try:
            while rows := result.cursor.fetchmany(CHUNK_ROWS):
                yield rows
        finally:
            result.close()


def _counted(
    chunks: Iterator[Sequence[Any]], on_rows: Callable[[int], None] | None
) -> Iterator[Sequence[Any]]:
    for rows in chunks:
        yield rows
        if on_rows is not None:
            on_rows(len(rows))
