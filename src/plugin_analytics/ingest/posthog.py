"""PostHog's capture API: POST /batch, /capture and /e (and /i/v0/e), as posthog-js,
posthog-python and the other SDKs send them.

The write key is the project API key: `api_key`, `token` or `$token` in the body, or `token` in
an event's properties (posthog-js). Bodies may be gzipped (Content-Encoding, posthog-js's
`?compression=gzip-js`, or just gzip's magic number) or base64 in a form (sendBeacon). Status
codes are PostHog's: 400 for a bad request, 413 for an event over 1 MiB or a body over 20 MiB.
A request with any bad event is refused whole, naming it, and nothing of it is stored.

How events map to ours:
- `event` is the event_type: `message` and `cta_click` are chat events, and their properties
  `message`, `role` and `cta_id` are our fields of those names; other events are stored as they
  are.
- `distinct_id` is the user_id, `uuid` the event_id (a retried event is stored once), and the
  `$session_id` property the session_id.
- `$set`, `$set_once` and `$unset` (in the properties or beside them) update the user's traits.
- The time is corrected for the client's clock: with `offset` (ms before sending), receivedAt -
  offset; else with `sent_at` (or posthog-js's `_`), receivedAt - (sent_at - timestamp).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field
from starlette.types import Scope

from plugin_analytics.config import Settings
from plugin_analytics.db.models import CHAT_EVENT_TYPES
from plugin_analytics.errors import APIError, Loc
from plugin_analytics.ingest.encoding import decode_body, query_value
from plugin_analytics.ingest.endpoint import Context, refusal_texts, site_field
from plugin_analytics.ingest.foreign import (
    ForeignAnswers,
    Mapper,
    in_words,
    invalid,
    json_size,
    load_json,
    refusal_docs,
    take_chat_fields,
    take_session,
)
from plugin_analytics.ingest.schemas import EventCreate

MAX_BODY_BYTES = 20 * 1024 * 1024  # PostHog's own limit: its SDKs send batches up to ~6 MiB
MAX_EVENT_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 10_000
KEY_FIELDS = ("api_key", "token", "$token")
TRAIT_FIELDS = ("$set", "$set_once", "$unset")
MAX_OFFSET_MS = 366 * 24 * 3600 * 1000


class EventTooLarge(APIError):
    status_code = 413


class PostHogBody:
    """A parsed request: its events, and the fields they share (the key, `sent_at`)."""

    def __init__(
        self, shape: str, shared: dict[str, Any], events: list[Any], sent_ms: str | None, size: int
    ) -> None:
        self.shape, self.shared, self.events, self.sent_ms = shape, shared, events, sent_ms
        self.size = size

    def loc(self, index: int) -> Loc:
        """Where the `index`th event is in the body, to name it in a refusal."""
        if self.shape == "batch":
            return ["batch", index]
        return [index] if self.shape == "list" else []


class PostHog(ForeignAnswers):
    """PostHog's capture endpoints: one event, a list of events, or {"batch": [...]}."""

    SUCCESS = b'{"status":1}'
    KEPT_STATUSES = (401, 403, 413, 429)

    def max_body_bytes(self, settings: Settings) -> int:
        return MAX_BODY_BYTES

    async def read(self, scope: Scope, raw: bytes, limit: int, context: Context) -> PostHogBody:
        text = await decode_body(scope, raw, limit, sniff=True)
        document = await load_json(text)
        sent_ms = query_value(scope, "_")
        if isinstance(document, list):
            body = PostHogBody("list", {}, document, sent_ms, len(text))
        elif not isinstance(document, dict):
            raise invalid([], "the body must be an event, a list of events or {batch: [...]}")
        elif "batch" in document:
            if not isinstance(document["batch"], list):
                raise invalid(["batch"], "must be a list of events")
            body = PostHogBody("batch", document, document["batch"], sent_ms, len(text))
        else:
            body = PostHogBody("event", document, [document], sent_ms, len(text))
        if not body.events:
            raise invalid([], "the body holds no events")
        if len(body.events) > MAX_BATCH_EVENTS:
            raise invalid([], f"holds {len(body.events)} events; the limit is {MAX_BATCH_EVENTS}")
        return body

    def body_site(self, body: PostHogBody) -> tuple[str, Loc] | None:
        return site_field(body.shared, ["body", "site"])

    def body_key(self, scope: Scope, body: PostHogBody) -> str | None:
        first = body.events[0] if isinstance(body.events[0], dict) else {}
        properties = first.get("properties")
        for source in (body.shared, first, properties if isinstance(properties, dict) else {}):
            for name in KEY_FIELDS:
                if isinstance(source.get(name), str):
                    return str(source[name])
        return None

    def events(self, body: PostHogBody, received_at: datetime) -> list[EventCreate]:
        mapper = Mapper()
        sent_at = mapper.time(body.shared.get("sent_at"), ["sent_at"])
        if sent_at is None and body.sent_ms is not None:
            sent_at = _from_ms(mapper, body.sent_ms)
        for n, event in enumerate(body.events):
            prefix = body.loc(n)
            if not isinstance(event, dict):
                mapper.refuse(prefix, "must be a JSON object (an event)")
                continue
            # Measured only when the body could hold an event over the limit.
            if body.size > MAX_EVENT_BYTES and (size := json_size(event)) > MAX_EVENT_BYTES:
                raise EventTooLarge(
                    f"event {n} is {size} bytes; the limit is {MAX_EVENT_BYTES} (1 MiB)"
                )
            _map(mapper, event, sent_at, received_at, prefix)
        return mapper.result()

    def timestamp_loc(self, body: PostHogBody, index: int) -> Loc:
        given = body.events[index]
        return [*body.loc(index), "offset" if given.get("offset") is not None else "timestamp"]

    def properties_loc(self, body: PostHogBody, index: int) -> Loc:
        return [*body.loc(index), "properties"]

    def error_body(self, exc: APIError, status: int) -> dict[str, Any]:
        kind = {401: "authentication_error", 403: "authentication_error", 429: "throttled_error"}
        payload: dict[str, Any] = {
            "type": kind.get(status, "validation_error" if status < 500 else "server_error"),
            "code": _CODES.get(status, "unavailable"),
            "detail": in_words(exc.detail),
        }
        if not isinstance(exc.detail, str):
            payload["errors"] = exc.detail
        return payload


_CODES = {
    400: "invalid_payload",
    401: "invalid_api_key",
    403: "invalid_api_key",
    413: "payload_too_large",
    429: "rate_limited",
}


def _together(inside: Any, beside: Any) -> Any:
    """A trait change given both in the properties and beside them, as PostHog merges them:
    the one beside wins a trait both set; `$unset` lists add up."""
    if isinstance(beside, dict):
        return {**inside, **beside} if isinstance(inside, dict) else beside
    if isinstance(beside, list):
        return [*inside, *beside] if isinstance(inside, list) else beside
    return inside  # not a change (null, text): the one inside stands


def _from_ms(mapper: Mapper, value: str) -> datetime | None:
    """posthog-js's `_` query parameter: when it sent the request, in ms since the epoch."""
    try:
        if value.isascii() and value.isdigit() and len(value) <= 15:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(value))
    except OverflowError:
        pass
    mapper.refuse(["query", "_"], "must be milliseconds since the Unix epoch, before year 10000")
    return None


def _map(
    mapper: Mapper,
    given: dict[str, Any],
    batch_sent_at: datetime | None,
    received_at: datetime,
    prefix: Loc,
) -> None:
    origin: dict[str, Loc] = {}
    raw = given.get("properties")
    if raw is not None and not isinstance(raw, dict):
        mapper.refuse([*prefix, "properties"], "must be a JSON object")
        return
    properties = dict(raw or {})
    for name in (*KEY_FIELDS, "distinct_id"):
        properties.pop(name, None)  # the key is a credential; the user is a column
    for name in TRAIT_FIELDS:  # older SDKs send them beside the properties: both count
        if name in given and mapper.clean(given[name], [*prefix, name]):
            properties[name] = _together(properties.get(name), given[name])
    user_field = "distinct_id" if given.get("distinct_id") not in (None, "") else None
    user = given.get("distinct_id") if user_field else (raw or {}).get("distinct_id")
    if user in (None, ""):
        mapper.refuse([*prefix, "distinct_id"], "is required")
        return
    if given.get("event") in (None, ""):
        mapper.refuse([*prefix, "event"], "is required")
        return
    event: dict[str, Any] = {"user_id": user, "event_type": given["event"]}
    origin["user_id"] = ["distinct_id"] if user_field else ["properties", "distinct_id"]
    origin["event_type"] = ["event"]
    if given.get("uuid") is not None:
        event["event_id"] = given["uuid"]
        origin["event_id"] = ["uuid"]
    event["timestamp"] = _time(mapper, given, properties, batch_sent_at, received_at, prefix)
    origin["timestamp"] = ["offset" if given.get("offset") is not None else "timestamp"]
    if event["event_type"] in CHAT_EVENT_TYPES:
        take_chat_fields(event, properties, origin, ["properties"])
    take_session(event, properties, ("$session_id", "session_id"), origin, ["properties"])
    event["properties"] = properties or None
    origin["properties"] = ["properties"]
    if mapper.chat_complete(event, origin, prefix) and event["timestamp"] is not None:
        mapper.add(event, origin, prefix)


def _time(
    mapper: Mapper,
    given: dict[str, Any],
    properties: dict[str, Any],
    batch_sent_at: datetime | None,
    received_at: datetime,
    prefix: Loc,
) -> datetime | None:
    """PostHog's rule: `offset` wins; else `timestamp` moved by the clock skew that `sent_at`
    shows (unless the `$ignore_sent_at` property is true); else the time received."""
    offset = given.get("offset")
    if offset is not None:
        if not isinstance(offset, int) or isinstance(offset, bool) or abs(offset) > MAX_OFFSET_MS:
            mapper.refuse([*prefix, "offset"], "must be whole milliseconds, at most a year")
            return None
        return received_at - timedelta(milliseconds=offset)
    timestamp = mapper.time(given.get("timestamp"), [*prefix, "timestamp"])
    sent_at = mapper.time(given.get("sent_at"), [*prefix, "sent_at"]) or batch_sent_at
    if properties.get("$ignore_sent_at") is True:
        sent_at = None
    if timestamp is None and given.get("timestamp") is not None:
        return None  # refused above
    return mapper.corrected_time(timestamp, sent_at, received_at, [*prefix, "timestamp"])


ROUTES = [
    (path, PostHog())
    for base in ("/batch", "/capture", "/e", "/i/v0/e", "/track")
    for path in (base, f"{base}/")
]


class PostHogSuccess(BaseModel):
    status: int = 1


class PostHogError(BaseModel):
    type: str = Field(description="validation_error, authentication_error, throttled_error…")
    code: str = Field(description="invalid_payload, invalid_api_key, payload_too_large…")
    detail: str = Field(description="What was wrong, in words.")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Each field at fault, as {loc, msg, type}."
    )


REFUSED = refusal_texts(
    {
        400: "Malformed JSON or a bad event; nothing was stored",
        413: "An event over 1 MiB or a body over 20 MiB",
    }
)

docs = APIRouter(
    tags=["PostHog"], responses=refusal_docs(PostHogError.model_json_schema(), REFUSED)
)
POSTHOG_BODY = Body(
    description="One PostHog event, a list of events, or {api_key, batch: [...], sent_at}.",
    examples=[
        {
            "api_key": "pa_write_…",
            "event": "message",
            "distinct_id": "visitor-1",
            "uuid": "0190b5c2-…",
            "properties": {"$session_id": "s-1", "message": "Hi!", "role": "user"},
            "timestamp": "2026-11-24T10:15:00Z",
        }
    ],
)


@docs.post("/batch", response_model=PostHogSuccess, summary="PostHog batch")
def posthog_batch(body: Any = POSTHOG_BODY) -> None:
    """What posthog-python and the server SDKs send: {api_key, batch: [events], sent_at}."""


@docs.post("/capture", response_model=PostHogSuccess, summary="PostHog capture")
def posthog_capture(body: Any = POSTHOG_BODY) -> None:
    """One event (or a batch), as PostHog's /capture takes."""


@docs.post("/e", response_model=PostHogSuccess, summary="PostHog capture (posthog-js)")
def posthog_e(body: Any = POSTHOG_BODY) -> None:
    """What posthog-js sends (also at /i/v0/e and /track, each with or without a trailing
    slash): gzip with ?compression=gzip-js, or base64 form data from sendBeacon."""
