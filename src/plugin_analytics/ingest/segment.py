"""Segment's HTTP Tracking API (and RudderStack's, which is the same): /v1/track, /v1/batch ...

Segment's SDKs need nothing but their host changed. The write key comes as HTTP Basic
(`writeKey:`) or as `writeKey` in the body; bodies may be gzipped. Limits and status codes are
Segment's: 32 KB a call or an event, 500 KB and 2,500 events a batch, and 400 for anything wrong
with the request (Segment answers 400 for a body too large too). Unlike Segment, which answers
200 and drops an event it cannot use, a batch with any bad event is refused whole (400 naming
the event and field) and nothing of it is stored.

How messages map to our events:
- `track`: the event name is the event_type. For `message` and `cta_click`, the properties
  `session_id`, `message`, `role` and `cta_id` are our fields of those names.
- `identify`: stored with the traits as `$set`, which updates the user's profile (traits).
- `page`, `screen`, `group`, `alias`: stored under their type, with `name`/`category`,
  `groupId` and its traits, `previousId` as `$name`, `$category`, `$group_id`,
  `$group_traits`, `$previous_id` properties.
- `userId` (else `anonymousId`) is the user_id; `messageId` is the event_id, so a retried
  message is stored once; `context` is kept as the `$context` property.
- `timestamp` is corrected for the client's clock: receivedAt - (sentAt - timestamp).
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field
from starlette.types import Scope

from plugin_analytics.config import Settings
from plugin_analytics.db.models import CHAT_EVENT_TYPES
from plugin_analytics.errors import APIError, Loc
from plugin_analytics.ingest.encoding import decode_body
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

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
TYPES = ("track", "identify", "page", "screen", "group", "alias")
REQUIRED = {"track": "event", "group": "groupId", "alias": "previousId"}
OBJECTS = {"traits": dict, "context": dict}  # fields that must hold a JSON object
# Segment answers 400 for every fault of the request, a body too large included.
CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 429: "rate_limited"}


class SegmentBody:
    """A parsed request: its messages (one, or a batch's) and the batch's shared fields."""

    def __init__(
        self, document: dict[str, Any], messages: list[Any], *, batch: bool, size: int
    ) -> None:
        self.document, self.messages, self.batch, self.size = document, messages, batch, size


class Segment(ForeignAnswers):
    """One of Segment's endpoints: a single message of `kind` (its type), or a batch."""

    SUCCESS = b'{"success":true}'
    KEPT_STATUSES = (401, 403, 429)

    def __init__(self, kind: str) -> None:
        self._kind = kind

    @property
    def batch(self) -> bool:
        return self._kind == "batch"

    def max_body_bytes(self, settings: Settings) -> int:
        return MAX_BATCH_BYTES if self.batch else MAX_CALL_BYTES

    async def read(self, scope: Scope, raw: bytes, limit: int, context: Context) -> SegmentBody:
        text = await decode_body(scope, raw, limit)
        document = await load_json(text)
        if not isinstance(document, dict):
            raise invalid([], "the body must be a JSON object")
        if not self.batch:
            return SegmentBody(document, [document], batch=False, size=len(text))
        messages = document.get("batch")
        if not isinstance(messages, list) or not messages:
            raise invalid(["batch"], "must be a non-empty list of messages")
        if len(messages) > MAX_BATCH_EVENTS:
            raise invalid(
                ["batch"], f"holds {len(messages)} messages; the limit is {MAX_BATCH_EVENTS}"
            )
        return SegmentBody(document, messages, batch=True, size=len(text))

    def body_site(self, body: SegmentBody) -> tuple[str, Loc] | None:
        return site_field(body.document, ["body", "site"])

    def body_key(self, scope: Scope, body: SegmentBody) -> str | None:
        key = body.document.get("writeKey")
        return key if isinstance(key, str) else None

    def events(self, body: SegmentBody, received_at: datetime) -> list[EventCreate]:
        mapper = Mapper()
        shared_context = body.document.get("context") if body.batch else None
        if shared_context is not None and not isinstance(shared_context, dict):
            mapper.refuse(["context"], "must be a JSON object")
        sent_at = mapper.time(body.document.get("sentAt"), ["sentAt"]) if body.batch else None
        for n, message in enumerate(body.messages):
            prefix: Loc = ["batch", n] if body.batch else []
            if not isinstance(message, dict):
                mapper.refuse(prefix, "must be a JSON object (a message)")
                continue
            # Measured only when the batch could hold a message over the limit.
            big = body.batch and body.size > MAX_CALL_BYTES
            if big and (size := json_size(message)) > MAX_CALL_BYTES:
                mapper.refuse(prefix, f"is {size} bytes; the limit is 32 KB a message")
                continue
            kind = message.get("type") if body.batch else self._kind
            if kind not in TYPES:
                mapper.refuse([*prefix, "type"], f"must be one of {', '.join(TYPES)}")
                continue
            _map(mapper, kind, message, shared_context, sent_at, received_at, prefix)
        return mapper.result()

    def timestamp_loc(self, body: SegmentBody, index: int) -> Loc:
        message = body.messages[index]
        field = "timestamp" if message.get("timestamp") is not None else "originalTimestamp"
        return [*self._message_loc(body, index), field]

    def properties_loc(self, body: SegmentBody, index: int) -> Loc:
        return [*self._message_loc(body, index), "properties"]

    @staticmethod
    def _message_loc(body: SegmentBody, index: int) -> Loc:
        return ["batch", index] if body.batch else []

    def error_body(self, exc: APIError, status: int) -> dict[str, Any]:
        return {
            "success": False,
            "code": CODES.get(status, "unavailable"),
            "message": in_words(exc.detail),
            "detail": exc.detail,
        }


def _map(
    mapper: Mapper,
    kind: str,
    message: dict[str, Any],
    shared_context: Any,
    batch_sent_at: datetime | None,
    received_at: datetime,
    prefix: Loc,
) -> None:
    origin: dict[str, Loc] = {}
    user_field = "userId" if message.get("userId") not in (None, "") else "anonymousId"
    if message.get(user_field) in (None, ""):
        mapper.refuse([*prefix, "userId"], "userId or anonymousId is required")
        return
    event: dict[str, Any] = {"user_id": message[user_field]}
    origin["user_id"] = [user_field]
    if message.get("messageId") is not None:
        event["event_id"] = message["messageId"]
        origin["event_id"] = ["messageId"]
    time_field = "timestamp" if message.get("timestamp") is not None else "originalTimestamp"
    timestamp = mapper.time(message.get(time_field), [*prefix, time_field])
    sent_at = mapper.time(message.get("sentAt"), [*prefix, "sentAt"]) or batch_sent_at
    event["timestamp"] = mapper.corrected_time(
        timestamp, sent_at, received_at, [*prefix, time_field]
    )
    origin["timestamp"] = [time_field]

    given = message.get("properties")
    properties = dict(given) if isinstance(given, dict) else {}
    if given is not None and not isinstance(given, dict):
        mapper.refuse([*prefix, "properties"], "must be a JSON object")
    required = REQUIRED.get(kind)
    if required and message.get(required) in (None, ""):
        mapper.refuse([*prefix, required], f"is required for {kind}")
        return
    if kind == "track":
        event["event_type"] = message.get("event")
        origin["event_type"] = ["event"]
        if event["event_type"] in CHAT_EVENT_TYPES:
            take_chat_fields(event, properties, origin, ["properties"])
    else:
        event["event_type"] = kind
    take_session(event, properties, ("session_id",), origin, ["properties"])
    context = message.get("context")
    if isinstance(shared_context, dict) and (context is None or isinstance(context, dict)):
        context = {**shared_context, **(context or {})}
    # Kept as reserved properties: checked here, so that a refusal names the SDK's field.
    kept = [*_extra_fields(kind, message), ("$context", "context", context or None)]
    if user_field == "userId":
        kept.append(("$anonymous_id", "anonymousId", message.get("anonymousId")))
    for name, field, value in kept:
        if value is not None and mapper.clean(value, [*prefix, field], OBJECTS.get(field)):
            properties[name] = value
    event["properties"] = properties or None
    origin["properties"] = ["properties"]
    if mapper.chat_complete(event, origin, prefix) and event["timestamp"] is not None:
        mapper.add(event, origin, prefix)


def _extra_fields(kind: str, message: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """What a call other than `track` holds beyond properties: (property, field, value)."""
    if kind == "identify":  # an identify without traits changes none
        return [("$set", "traits", message.get("traits") or None)]
    if kind in ("page", "screen"):
        return [(f"${name}", name, message.get(name) or None) for name in ("name", "category")]
    if kind == "group":
        return [
            ("$group_id", "groupId", message.get("groupId")),
            ("$group_traits", "traits", message.get("traits") or {}),
        ]
    if kind == "alias":
        return [("$previous_id", "previousId", message.get("previousId"))]
    return []


def _paths() -> list[tuple[str, Segment]]:
    # analytics.js posts to one-letter paths (/v1/t); the others use the full names.
    paths = [(f"/v1/{kind}", Segment(kind)) for kind in (*TYPES, "batch")]
    paths += [(f"/v1/{kind[0]}", Segment(kind)) for kind in TYPES]
    paths += [("/v1/b", Segment("batch")), ("/v1/import", Segment("batch"))]
    return paths


ROUTES = _paths()


class SegmentSuccess(BaseModel):
    success: bool = True


class SegmentError(BaseModel):
    success: bool = False
    code: str = Field(description="invalid_request, unauthorized, forbidden or rate_limited.")
    message: str = Field(description="What was wrong, in words.")
    detail: Any = Field(description="The same, as text or as a list of {loc, msg, type}.")


REFUSED = refusal_texts(
    {400: "Malformed JSON, a bad message, or a body over Segment's limits; nothing stored"}
)

docs = APIRouter(
    prefix="/v1",
    tags=["Segment"],
    responses=refusal_docs(SegmentError.model_json_schema(), REFUSED),
)
SEGMENT_MESSAGE = Body(
    description="A Segment message (https://segment.com/docs/connections/spec/). Gzip bodies "
    "are accepted (Content-Encoding: gzip).",
    examples=[
        {
            "userId": "visitor-1",
            "event": "message",
            "messageId": "4f0c…",
            "properties": {"session_id": "s-1", "message": "Hi!", "role": "user"},
            "timestamp": "2026-11-24T10:15:00Z",
        }
    ],
)


@docs.post("/track", response_model=SegmentSuccess, summary="Segment track")
def segment_track(message: dict[str, Any] = SEGMENT_MESSAGE) -> None:
    """A Segment `track` (also at /v1/t). `message` and `cta_click` are chat events."""


@docs.post("/identify", response_model=SegmentSuccess, summary="Segment identify")
def segment_identify(message: dict[str, Any] = SEGMENT_MESSAGE) -> None:
    """A Segment `identify` (also at /v1/i): its traits update the user's profile."""


@docs.post("/page", response_model=SegmentSuccess, summary="Segment page")
def segment_page(message: dict[str, Any] = SEGMENT_MESSAGE) -> None:
    """A Segment `page` (also at /v1/p), stored as event_type `page`."""


@docs.post("/screen", response_model=SegmentSuccess, summary="Segment screen")
def segment_screen(message: dict[str, Any] = SEGMENT_MESSAGE) -> None:
    """A Segment `screen` (also at /v1/s), stored as event_type `screen`."""


@docs.post("/group", response_model=SegmentSuccess, summary="Segment group")
def segment_group(message: dict[str, Any] = SEGMENT_MESSAGE) -> None:
    """A Segment `group` (also at /v1/g), stored as event_type `group`."""


@docs.post("/alias", response_model=SegmentSuccess, summary="Segment alias")
def segment_alias(message: dict[str, Any] = SEGMENT_MESSAGE) -> None:
    """A Segment `alias` (also at /v1/a), stored as event_type `alias`. Identities are not
    merged."""


@docs.post("/batch", response_model=SegmentSuccess, summary="Segment batch")
def segment_batch(
    batch: dict[str, Any] = Body(
        description='{"batch": [messages], "sentAt": …, "context": …}: up to 2,500 messages '
        "and 500 KB, 32 KB a message; all are stored or none."
    ),
) -> None:
    """A Segment batch (also at /v1/b and /v1/import), as the SDKs send."""
