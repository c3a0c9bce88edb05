"""Public ingestion routes: POST /client/update and POST /client/batch.

They are the hot path, so they are served as plain ASGI endpoints: the body is read once and
validated from raw bytes, and the answer is prebuilt, with none of FastAPI's per-request
dependency solving or response serialisation. Their OpenAPI description comes from `docs`,
FastAPI declarations of the same contract that are documented but never routed.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin_analytics.errors import APIError, error_response
from plugin_analytics.ingest.body import parse_json, read_limited
from plugin_analytics.ingest.schemas import (
    BatchCreate,
    BatchStatus,
    EventCreate,
    IngestStatus,
    ValidEvent,
)
from plugin_analytics.ingest.writer import EventWriter

EVENT = TypeAdapter(ValidEvent)
BATCH = TypeAdapter(BatchCreate)
SUCCESS = b'{"status":"success"}'

Handler = Callable[[EventWriter, bytes], Awaitable[bytes]]


async def store_event(writer: EventWriter, body: bytes) -> bytes:
    event = parse_json(EVENT, body)
    await writer.write([event], datetime.now(UTC))
    return SUCCESS


async def store_batch(writer: EventWriter, body: bytes) -> bytes:
    events = parse_json(BATCH, body)["events"]
    result = await writer.write(events, datetime.now(UTC))
    status = BatchStatus(received=len(events), new=result.new, duplicates=result.duplicates)
    return status.model_dump_json().encode()


class IngestEndpoint:
    """An ASGI endpoint: read the body within the size limit, handle it, answer JSON."""

    def __init__(self, handle: Handler) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        response: Response
        if scope["method"] != "POST":  # an OPTIONS request that is not a CORS preflight
            response = PlainTextResponse("Method Not Allowed", 405, {"Allow": "POST, OPTIONS"})
            await response(scope, receive, send)
            return
        try:
            body = await read_limited(scope, receive, state.settings.max_body_bytes)
            response = Response(
                await self._handle(state.writer, body), 200, None, "application/json"
            )
        except APIError as exc:
            response = error_response(exc)
        await response(scope, receive, send)


# What a browser may send to ingestion: JSON, and the write key as a header or Basic auth.
CORS_HEADERS = ["Content-Type", "X-Write-Key", "Authorization"]
CORS_MAX_AGE_S = 86_400


def routes(cors_origins: list[str]) -> list[Route]:
    """The ingestion routes, answering CORS for `cors_origins` (`*`: any origin). Only these
    routes do: read and admin routes never send CORS headers."""
    return [
        Route(path, _with_cors(IngestEndpoint(handle), cors_origins), methods=["POST", "OPTIONS"])
        for path, handle in (("/client/update", store_event), ("/client/batch", store_batch))
    ]


def _with_cors(endpoint: IngestEndpoint, origins: list[str]) -> ASGIApp:
    return CORSMiddleware(
        endpoint,
        allow_origins=origins,
        allow_methods=["POST"],
        allow_headers=CORS_HEADERS,
        max_age=CORS_MAX_AGE_S,
    )


REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON or headers"},
    413: {"description": "Body larger than the limit (1 MiB by default)"},
    503: {"description": "Storage unavailable or overloaded; nothing was stored"},
}

docs = APIRouter(tags=["ingestion"], responses=REFUSALS)


@docs.post("/client/update", response_model=IngestStatus, summary="Record one event")
def record_event(event: EventCreate) -> None:
    """Record one chat message or CTA click. Answers success only once the event is committed;
    re-sending an event_id stores it once. Any Content-Type is accepted (sendBeacon sends
    text/plain)."""


@docs.post("/client/batch", response_model=BatchStatus, summary="Record up to 1,000 events")
def record_batch(batch: BatchCreate) -> None:
    """Record up to 1,000 events in one transaction: all are stored or none. The answer counts
    the new events and the duplicates (event_ids already stored)."""
