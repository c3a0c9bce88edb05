"""Reading events for an export: one query, streamed from a database cursor in chunks (a
server-side cursor on PostgreSQL), never the whole result in memory."""

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Select, func, select, type_coerce

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
    event_cells,
    ndjson_lines,
    utc_text,
)

CHUNK_ROWS = 2000


@dataclass(frozen=True)
class ExportFilter:
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
    start_date: date | None,
    end_date: date | None,
    tz: str,
    *,
    event_type: str | None = None,
    user_id: str | None = None,
) -> ExportFilter:
    """Whole days in `tz`, either end open; 400 for an unknown zone or an inverted range."""
    zone = time_zone(tz)
    check_dates(start_date, end_date)
    return ExportFilter(
        start_us=local_midnight_us(start_date, zone) if start_date else None,
        end_us=local_midnight_us(end_date + timedelta(days=1), zone) if end_date else None,
        event_type=event_type,
        user_id=user_id,
    )


def _where(query: Select[Any], where: ExportFilter) -> Select[Any]:
    event = event_table
    if where.start_us is not None:
        query = query.where(event.c.occurred_at >= from_epoch_us(where.start_us))
    if where.end_us is not None:
        query = query.where(event.c.occurred_at < from_epoch_us(where.end_us))
    if where.event_type is not None:
        query = query.where(event.c.event_type == where.event_type)
    if where.user_id is not None:
        query = query.where(event.c.user_id == where.user_id)
    return query


def _columns(names: tuple[str, ...]) -> list[Any]:
    # Times raw from the driver (SQLite: integer microseconds; PostgreSQL: datetimes): made
    # into text once, in utc_text, instead of through a datetime on the way.
    renamed = {"timestamp": "occurred_at"}
    columns = []
    for name in names:
        column = event_table.c[renamed.get(name, name)]
        if name in ("timestamp", "received_at"):
            column = type_coerce(column, BigInteger).label(name)
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
    query = _where(select(*_columns(fields)), where).order_by(
        event_table.c.occurred_at, event_table.c.id
    )
    encoder = Gzip() if spec.gzip else Identity()
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(
            query
        )
        if spec.format == "csv":
            csv_encoder = CsvEncoder(fields, bom=spec.bom)
            yield encoder.feed(csv_encoder.header().encode())
            for rows in _counted(result.partitions(), on_rows):
                text = csv_encoder.rows(event_cells(rows, spec.escape_formulas))
                yield encoder.feed(text.encode())
        else:
            for rows in _counted(result.partitions(), on_rows):
                objects = (
                    {
                        **row._asdict(),
                        "timestamp": utc_text(row.timestamp),
                        "received_at": utc_text(row.received_at),
                    }
                    for row in rows
                )
                yield encoder.feed(ndjson_lines(objects).encode())
        yield encoder.finish()


def _counted(
    chunks: Iterator[Sequence[Any]], on_rows: Callable[[int], None] | None
) -> Iterator[Sequence[Any]]:
    for rows in chunks:
        yield rows
        if on_rows is not None:
            on_rows(len(rows))
