"""Public ingestion routes: POST /client/update and POST /client/batch."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, TypeAdapter

from plugin_analytics.ingest.body import parse_json, read_limited
from plugin_analytics.ingest.ids import new_event_id
from plugin_analytics.ingest.schemas import BatchCreate, BatchStatus, EventCreate, IngestStatus
from plugin_analytics.ingest.writer import EventWriter, Row
from plugin_analytics.openapi import json_body

router = APIRouter(tags=["ingestion"])

EVENT = TypeAdapter(EventCreate)
BATCH = TypeAdapter(BatchCreate)
BODY_MODELS: list[type[BaseModel]] = [EventCreate, BatchCreate]
SUCCESS = b'{"status":"success"}'
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON or headers"},
    413: {"description": "Body larger than the limit"},
    503: {"description": "Storage unavailable; nothing was stored"},
}


def get_writer(request: Request) -> EventWriter:
    writer: EventWriter = request.app.state.writer
    return writer


WriterDep = Annotated[EventWriter, Depends(get_writer)]


def to_row(event: EventCreate, received_at: datetime) -> Row:
    """The stored form of a validated event."""
    return {
        "event_id": event.event_id or new_event_id(),
        "user_id": event.user_id,
        "session_id": event.session_id,
        "event_type": event.event_type,
        "role": event.role,
        "message": event.message,
        "cta_id": event.cta_id,
        "properties": event.properties,
        "occurred_at": event.timestamp or received_at,
        "received_at": received_at,
    }


@router.post(
    "/client/update",
    response_model=IngestStatus,
    responses=REFUSALS,
    openapi_extra=json_body(EventCreate),
    summary="Record one chat message or CTA click",
)
async def record_event(request: Request, writer: WriterDep) -> Response:
    """Answers success only once the event is committed; re-sending an event_id stores it once."""
    event = parse_json(
        EVENT, await read_limited(request, request.app.state.settings.max_body_bytes)
    )
    await writer.write([to_row(event, datetime.now(UTC))])
    return Response(SUCCESS, media_type="application/json")


@router.post(
    "/client/batch",
    response_model=BatchStatus,
    responses=REFUSALS,
    openapi_extra=json_body(BatchCreate),
    summary="Record up to 1,000 events in one transaction",
)
async def record_batch(request: Request, writer: WriterDep) -> BatchStatus:
    """All events are stored together or none are; the answer counts new events and duplicates."""
    batch = parse_json(
        BATCH, await read_limited(request, request.app.state.settings.max_body_bytes)
    )
    received_at = datetime.now(UTC)
    result = await writer.write([to_row(event, received_at) for event in batch.events])
    return BatchStatus(received=len(batch.events), new=result.new, duplicates=result.duplicates)
