"""GET /analytics/export (events, streamed) and GET /analytics/export/summary (the timeseries)."""

from collections.abc import AsyncIterator, Generator
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from plugin_analytics.analytics.ranges import Interval
from plugin_analytics.db.session import snapshot
from plugin_analytics.dependencies import EndDate, EngineDep, SessionDep, StartDate, TimeZone
from plugin_analytics.exports.formats import MEDIA_TYPES, Format, accepts_gzip, file_name
from plugin_analytics.exports.stream import ExportSpec, export_chunks, export_filter
from plugin_analytics.exports.summary import summary_csv, summary_file_name
from plugin_analytics.reading import RANGE_REFUSALS, RangeDep, SiteDep
from plugin_analytics.security import READER_REFUSALS, ReaderGuard

router = APIRouter(tags=["exports"], dependencies=[ReaderGuard], responses=READER_REFUSALS)

NO_NUL = r"^[^\x00]*$"
EXPORT_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/x-ndjson": {"schema": {"type": "string"}},
}


def _download_headers(file_name: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "Cache-Control": "no-store",  # transcripts: never kept by a shared cache
    }


async def _from_thread(chunks: Generator[bytes, None, None], first: bytes) -> AsyncIterator[bytes]:
    """The generator's chunks, each made on a worker thread. However the response ends (done,
    client gone, cancelled), the generator is closed, which closes its cursor."""
    try:
        yield first
        while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
            if chunk:
                yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)


@router.get(
    "/analytics/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": EXPORT_CONTENT, "description": "The events, streamed."},
        **RANGE_REFUSALS,
    },
)
async def export(
    engine: EngineDep,
    site: SiteDep,
    start_date: StartDate = None,
    end_date: EndDate = None,
    tz: TimeZone = None,
    event_type: Annotated[
        str | None, Query(max_length=256, pattern=NO_NUL, description="Only this event type.")
    ] = None,
    user_id: Annotated[
        str | None, Query(max_length=256, pattern=NO_NUL, description="Only this user's events.")
    ] = None,
    output: Annotated[
        Format,
        Query(alias="format", description="csv (the seed's columns) or ndjson (every field)."),
    ] = "csv",
    escape_formulas: Annotated[
        bool,
        Query(
            description="CSV: prefix cells starting with = + - @ tab, CR or ' with an apostrophe "
            "so spreadsheets do not run them (OWASP); drop one leading apostrophe to restore."
        ),
    ] = True,
    bom: Annotated[bool, Query(description="CSV: start with a UTF-8 byte order mark (Excel).")] = (
        False
    ),
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> StreamingResponse:
    """Every event in the range (all time by default), oldest first, streamed as CSV or NDJSON;
    gzip-compressed when the client accepts it. Dates are whole days in `tz` (default: the
    site's zone); times are UTC. NDJSON names each event's `site`."""
    where = export_filter(site, start_date, end_date, tz, event_type=event_type, user_id=user_id)
    spec = ExportSpec(output, accepts_gzip(accept_encoding), escape_formulas, bom)
    chunks = export_chunks(engine, where, spec)
    # The first chunk before answering: a database that is down is a 503, not a cut stream.
    first = await anyio.to_thread.run_sync(next, chunks)
    headers = _download_headers(file_name("events", start_date, end_date, output))
    headers["Vary"] = "Accept-Encoding"
    if spec.gzip:
        headers["Content-Encoding"] = "gzip"
    return StreamingResponse(
        _from_thread(chunks, first), media_type=MEDIA_TYPES[output], headers=headers
    )


@router.get(
    "/analytics/export/summary",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **RANGE_REFUSALS},
)
def export_summary(session: SessionDep, span: RangeDep, interval: Interval = "day") -> Response:
    """The timeseries as CSV: a row per bucket (every bucket, empty ones 0), local bucket
    start and end with their UTC offsets, then the summary's metrics (docs/metrics.md)."""
    return Response(
        summary_csv(snapshot(session), span, interval),
        media_type=MEDIA_TYPES["csv"],
        headers=_download_headers(summary_file_name(span, interval)),
    )
