"""Public ingestion routes: POST /client/update and POST /client/batch.

They are the hot path, so they are served as plain ASGI endpoints: the body is read once and
validated from raw bytes, and the answer is prebuilt, with none of FastAPI's per-request
dependency solving or response serialisation. Their OpenAPI description comes from `docs`,
FastAPI declarations of the same contract that are documented but never routed.
"""

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from anyio import to_thread
from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin_analytics.access.ring import KeySet, header_write_key
from plugin_analytics.analytics.retention import oldest_accepted
from plugin_analytics.errors import RETRY_AFTER, APIError, error_response, refusals
from plugin_analytics.ingest.body import InvalidBody, parse_json, read_limited
from plugin_analytics.ingest.redact import might_hold_pii, redact
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
REDACT_ON_LOOP_CHARS = 512  # beyond this, masking could hold the event loop for milliseconds

Body = TypeVar("Body", bound=Mapping[str, object])


async def store_event(writer: EventWriter, events: list[EventCreate]) -> bytes:
    await writer.write(events, datetime.now(UTC))
    return SUCCESS


async def store_batch(writer: EventWriter, events: list[EventCreate]) -> bytes:
    result = await writer.write(events, datetime.now(UTC))
    status = BatchStatus(received=len(events), new=result.new, duplicates=result.duplicates)
    return status.model_dump_json().encode()


def _one(event: EventCreate) -> list[EventCreate]:
    return [event]


def _events_of_batch(batch: BatchCreate) -> list[EventCreate]:
    return batch["events"]


class IngestEndpoint(Generic[Body]):
    """An ASGI endpoint: check the write key and the rate limit, read the body within the size
    limit, validate it, store it, answer JSON.

    A key sent in a header is checked before the body is read; a key in the body (`write_key`,
    for sendBeacon, which cannot set headers) once the body is valid.
    """

    def __init__(
        self,
        adapter: TypeAdapter[Body],
        events_of: Callable[[Body], list[EventCreate]],
        store: Callable[[EventWriter, list[EventCreate]], Awaitable[bytes]],
    ) -> None:
        self._adapter = adapter
        self._events_of = events_of
        self._store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope["method"] != "POST":  # an OPTIONS request that is not a CORS preflight
            response = PlainTextResponse("Method Not Allowed", 405, {"Allow": "POST, OPTIONS"})
            await response(scope, receive, send)
            return
        try:
            response = Response(await self._handle(scope, receive), 200, None, "application/json")
        except APIError as exc:
            response = error_response(exc)
        await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive) -> bytes:
        state = scope["app"].state
        keys: KeySet = state.keys.current
        # While ingestion is open, a key (even a malformed header) is not looked at.
        header_key = header_write_key(scope["headers"]) if keys.write_required else None
        key_in_body = keys.write_required and header_key is None
        if not key_in_body:
            self._admit(state, scope, keys.check_write(header_key))
        body = parse_json(
            self._adapter, await read_limited(scope, receive, state.settings.max_body_bytes)
        )
        if key_in_body:
            body_key = body.get("write_key")  # validated: a str when present
            self._admit(
                state, scope, keys.check_write(body_key if isinstance(body_key, str) else None)
            )
        events = self._events_of(body)
        if state.settings.retention_days:
            _refuse_expired(events, "events" in body, state.settings.retention_days)
        if state.settings.redact_pii:
            await _redact_messages(events, state.settings.redact_pii_region)
        return await self._store(state.writer, events)

    @staticmethod
    def _admit(state: Any, scope: Scope, key_digest: str | None) -> None:
        if state.rate_limit is not None:
            client = scope.get("client")
            state.rate_limit.hit(key_digest, client[0] if client else "unknown")


def _refuse_expired(events: list[EventCreate], batch: bool, days: int) -> None:
    """422 for an event older than RETENTION_DAYS: it would be deleted at the next run."""
    oldest = oldest_accepted(days)
    errors = [
        {
            "loc": ["body", "events", n, "timestamp"] if batch else ["body", "timestamp"],
            "msg": f"is older than RETENTION_DAYS ({days} days), so it would not be kept",
            "type": "value_error",
        }
        for n, event in enumerate(events)
        if (timestamp := event.get("timestamp")) is not None and timestamp < oldest
    ]
    if errors:
        raise InvalidBody(errors)


async def _redact_messages(events: list[EventCreate], region: str) -> None:
    """REDACT_PII: mask e-mail addresses, phone and card numbers before anything is stored.
    Masking costs about 0.1 ms a number found, so long texts are masked off the event loop."""
    texts = [
        (event, event["message"])
        for event in events
        if "message" in event and might_hold_pii(event["message"])
    ]
    if sum(len(text) for _, text in texts) > REDACT_ON_LOOP_CHARS:
        masked = await to_thread.run_sync(_redact_all, [text for _, text in texts], region)
    else:
        masked = _redact_all([text for _, text in texts], region)
    for (event, _), text in zip(texts, masked, strict=True):
        event["message"] = text


def _redact_all(texts: list[str], region: str) -> list[str]:
    return [redact(text, region) for text in texts]


# What a browser may send to ingestion: JSON, and the write key as a header or Basic auth.
CORS_HEADERS = ["Content-Type", "X-Write-Key", "Authorization"]
CORS_MAX_AGE_S = 86_400


def routes(cors_origins: list[str]) -> list[Route]:
    """The ingestion routes, answering CORS for `cors_origins` (`*`: any origin). Only these
    routes do: read and admin routes never send CORS headers."""
    return [
        Route(path, _with_cors(endpoint, cors_origins), methods=["POST", "OPTIONS"])
        for path, endpoint in (
            ("/client/update", IngestEndpoint(EVENT, _one, store_event)),
            ("/client/batch", IngestEndpoint(BATCH, _events_of_batch, store_batch)),
        )
    ]


def _with_cors(endpoint: ASGIApp, origins: list[str]) -> ASGIApp:
    return CorsWhenOrigin(
        endpoint,
        CORSMiddleware(
            endpoint,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=CORS_HEADERS,
            max_age=CORS_MAX_AGE_S,
        ),
    )


class CorsWhenOrigin:
    """Only a request with an Origin header goes through CORS. Any other (an SDK, a server,
    curl) is not a CORS request, and CORSMiddleware would only pass it on after parsing every
    header: on the hot path, it skips that."""

    def __init__(self, endpoint: ASGIApp, cors: ASGIApp) -> None:
        self._endpoint, self._cors = endpoint, cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if any(name == b"origin" for name, _ in scope["headers"]):
            await self._cors(scope, receive, send)
        else:
            await self._endpoint(scope, receive, send)


REFUSALS = refusals(
    {
        400: "Malformed JSON or headers",
        401: "A write key is needed (once any exists), and this one is missing, wrong or revoked",
        403: "An admin key: ingestion takes a write key",
        413: "Body larger than the limit (1 MiB by default)",
        429: "Over INGEST_RATE_LIMIT; nothing was stored",
        503: "Storage unavailable or overloaded; nothing was stored",
    },
    headers_401={"WWW-Authenticate": {"schema": {"type": "string"}}},
    headers_429=RETRY_AFTER,
    headers_503=RETRY_AFTER,
)

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
