"""Our own ingestion routes: POST /client/update and POST /client/batch, and the ingestion
routes of every wire format (`routes`).

Their OpenAPI description comes from `docs`, FastAPI declarations of the same contract that are
documented but never routed (the routes themselves are plain ASGI endpoints, see endpoint.py).
"""

from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.routing import Route
from starlette.types import Scope

from plugin_analytics.config import Settings
from plugin_analytics.errors import RETRY_AFTER, APIError, Loc, error_response, refusals
from plugin_analytics.ingest import posthog, segment
from plugin_analytics.ingest.body import InvalidBody, parse_json
from plugin_analytics.ingest.endpoint import (
    Context,
    Dialect,
    ingest_route,
    refusal_texts,
    site_field,
)
from plugin_analytics.ingest.schemas import (
    BatchCreate,
    BatchStatus,
    EventCreate,
    IngestStatus,
    ValidEvent,
)
from plugin_analytics.ingest.writer import WriteResult

SUCCESS = b'{"status":"success"}'

Body = TypeVar("Body", EventCreate, BatchCreate)


class Native(Generic[Body]):
    """Our own format: one event, or a batch {"events": [...]}; the write key may be sent as
    `write_key` in the body."""

    def __init__(self, adapter: TypeAdapter[Body], *, batch: bool) -> None:
        self._adapter: TypeAdapter[Body] = adapter
        self._batch = batch

    def max_body_bytes(self, settings: Settings) -> int:
        return settings.max_body_bytes

    async def read(self, scope: Scope, raw: bytes, limit: int, context: Context) -> Body:
        return parse_json(self._adapter, raw, context)

    def body_key(self, scope: Scope, body: Body) -> str | None:
        key = body.get("write_key")  # validated: a str when present
        return key if isinstance(key, str) else None

    def body_site(self, body: Body) -> tuple[str, Loc] | None:
        """`site` of the body; in a batch, events may name it too, but all the same one."""
        named = site_field(body, ["body", "site"])
        if not self._batch:
            return named
        for n, event in enumerate(body["events"]):  # type: ignore[typeddict-item]
            site = site_field(event, ["body", "events", n, "site"])
            if site is None:
                continue
            if named is None:
                named = site
            elif site[0] != named[0]:
                msg = f"names the site {site[0]!r}, not {named[0]!r}: a batch goes to one site"
                raise InvalidBody([{"loc": site[1], "msg": msg, "type": "value_error"}])
        return named

    def events(self, body: Body, received_at: datetime) -> list[EventCreate]:
        return body["events"] if self._batch else [body]  # type: ignore[typeddict-item,list-item]

    def timestamp_loc(self, body: Body, index: int) -> Loc:
        return [*self._event_loc(index), "timestamp"]

    def properties_loc(self, body: Body, index: int) -> Loc:
        return [*self._event_loc(index), "properties"]

    def _event_loc(self, index: int) -> Loc:
        return ["body", "events", index] if self._batch else ["body"]

    def success(self, result: WriteResult, events: list[EventCreate]) -> bytes:
        if not self._batch:
            return SUCCESS
        status = BatchStatus(received=len(events), new=result.new, duplicates=result.duplicates)
        return status.model_dump_json().encode()

    def refusal(self, exc: APIError) -> Any:
        return error_response(exc)


def routes(cors_origins: list[str]) -> list[Route]:
    """Every ingestion route, answering CORS for `cors_origins`."""
    dialects: list[tuple[str, Dialect[Any]]] = [
        ("/client/update", Native(TypeAdapter(ValidEvent), batch=False)),
        ("/client/batch", Native(TypeAdapter(BatchCreate), batch=True)),
        *segment.ROUTES,
        *posthog.ROUTES,
    ]
    return [ingest_route(path, dialect, cors_origins) for path, dialect in dialects]


REFUSALS = refusals(
    refusal_texts(
        {
            400: "Malformed JSON or headers",
            413: "Body larger than the limit (1 MiB by default)",
        }
    ),
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
