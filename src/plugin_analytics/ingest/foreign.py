"""What Segment's and PostHog's formats share once read: their events become ours.

A mapped event is validated with the same rules as our own (ids, message text, roles, times),
and a refusal names the field as the SDK sent it (`batch.3.properties.session_id`), not ours.
Events other than chat messages and CTA clicks keep their SDK's name as event_type and may
have no session (session_id ""); they are stored and shown, and not counted as chat.
"""

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, NotRequired, cast

from anyio import to_thread
from pydantic import (
    AfterValidator,
    BeforeValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import from_json
from starlette.responses import JSONResponse
from typing_extensions import TypedDict

from plugin_analytics.db.models import CHAT_EVENT_TYPES
from plugin_analytics.errors import RETRY_AFTER, APIError, BadRequest, Loc
from plugin_analytics.ingest.body import InvalidBody
from plugin_analytics.ingest.schemas import (
    MAX_ID_CHARS,
    USAGE_FIELDS,
    EventCreate,
    Identifier,
    LatencyMs,
    Message,
    Tokens,
    clean_text,
    encoded_json,
    iso_text,
    message_present,
    message_text,
    not_far_future,
    usage_on_replies,
)
from plugin_analytics.ingest.writer import WriteResult

ON_LOOP_JSON_BYTES = 256 * 1024  # parsing more could hold the event loop for milliseconds
CHAT_FIELDS = ("message", "role", "cta_id")


def _json_clean(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        encoded_json(value)
    return value


def _id_text(value: Any) -> Any:
    # SDKs may send numeric ids (PostHog's distinct_id, Segment's userId); they are kept as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _session_present(event: "MappedEvent") -> "MappedEvent":
    if event["event_type"] in CHAT_EVENT_TYPES and not event["session_id"]:
        raise ValueError(f"a session id is required for a {event['event_type']!r} event")
    return event


IdText = Annotated[Identifier, BeforeValidator(_id_text)]
# "" is no session: an SDK's page view or identify need not belong to a chat.
SessionId = Annotated[
    str,
    StringConstraints(max_length=MAX_ID_CHARS, pattern=r"^$|\S"),
    BeforeValidator(_id_text),
    AfterValidator(clean_text),
]


class MappedEvent(TypedDict):
    """An SDK's event as ours, before validation. Field order matters: `message` is checked
    against `event_type`."""

    event_id: NotRequired[IdText]
    user_id: IdText
    event_type: Identifier
    session_id: SessionId
    message: NotRequired[Annotated[Message, AfterValidator(message_text)]]
    role: NotRequired[Literal["user", "assistant"]]
    cta_id: NotRequired[IdText | None]
    timestamp: Annotated[datetime, AfterValidator(not_far_future)]
    properties: Annotated[dict[str, Any] | None, AfterValidator(_json_clean)]
    model: NotRequired[Identifier | None]
    input_tokens: NotRequired[Tokens | None]
    output_tokens: NotRequired[Tokens | None]
    latency_ms: NotRequired[LatencyMs | None]


MAPPED = TypeAdapter(
    Annotated[
        MappedEvent,
        AfterValidator(message_present),
        AfterValidator(usage_on_replies),
        AfterValidator(_session_present),
    ]
)
TIME = TypeAdapter(Annotated[datetime, BeforeValidator(iso_text)])


async def load_json(text: bytes) -> Any:
    """The JSON document in `text`; 400 naming where it is broken. A large one is parsed off
    the event loop."""
    if not text.strip():
        raise BadRequest("request body is empty; send JSON")
    try:
        if len(text) > ON_LOOP_JSON_BYTES:
            return await to_thread.run_sync(_parse, text)
        return _parse(text)
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def _parse(text: bytes) -> Any:
    return from_json(text, allow_inf_nan=False)


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (how the SDKs count an event against a limit)."""
    return len(
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    )


class Mapper:
    """Turns an SDK's events into ours, collecting every refusal before raising them at once."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []
        self.events: list[EventCreate] = []

    def refuse(self, loc: Loc, msg: str) -> None:
        self.errors.append({"loc": loc, "msg": msg, "type": "value_error"})

    def time(self, value: Any, loc: Loc) -> datetime | None:
        """An ISO 8601 time (UTC if it has no offset), or None when absent or refused."""
        if value is None:
            return None
        try:
            parsed = TIME.validate_python(value)
        except ValidationError as exc:
            self.refuse(loc, exc.errors()[0]["msg"].removeprefix("Value error, "))
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed

    def corrected_time(
        self,
        timestamp: datetime | None,
        sent_at: datetime | None,
        received_at: datetime,
        loc: Loc,
    ) -> datetime | None:
        """The event time on the server's clock: a client clock that is off moves `timestamp`
        and `sent_at` alike, so received_at - (sent_at - timestamp) cancels it out. None
        (refused, naming `loc`) when the correction leaves the calendar."""
        if timestamp is None:
            return received_at
        if sent_at is None:
            return timestamp
        try:
            return received_at - (sent_at - timestamp)
        except OverflowError:
            self.refuse(loc, "is too far from the time the batch was sent")
            return None

    def clean(self, value: Any, loc: Loc, kind: type | None = None) -> bool:
        """Whether `value` (to be stored in properties) can be stored: refuse it, naming `loc`,
        if it is not of `kind` or holds NUL, NaN or Infinity."""
        if kind is not None and not isinstance(value, kind):
            self.refuse(loc, "must be a JSON object" if kind is dict else f"must be {kind}")
            return False
        try:
            encoded_json(value)
        except ValueError as exc:
            self.refuse(loc, str(exc))
            return False
        return True

    def add(self, event: dict[str, Any], origin: dict[str, Loc], prefix: Loc) -> None:
        """Validate a mapped event; `origin` names where each of our fields came from."""
        try:
            self.events.append(cast(EventCreate, MAPPED.validate_python(event)))
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False, include_context=False):
                field, *rest = error["loc"] or ("",)
                where = origin.get(str(field), [])
                msg = error["msg"].removeprefix("Value error, ")
                self.errors.append(
                    {"loc": [*prefix, *where, *rest], "msg": msg, "type": error["type"]}
                )
        except OverflowError:
            self.refuse([*prefix, *origin.get("timestamp", [])], "is out of range")

    def chat_complete(self, event: dict[str, Any], origin: dict[str, Loc], prefix: Loc) -> bool:
        """A chat event needs a session, and a message needs its text: refuse it, naming the
        SDK's field, when one is missing."""
        if event["event_type"] not in CHAT_EVENT_TYPES:
            return True
        complete = True
        if not event["session_id"]:
            self.refuse(
                [*prefix, *origin["session_id"]], f"is required for {event['event_type']!r}"
            )
            complete = False
        if event["event_type"] == "message" and "message" not in event:
            self.refuse([*prefix, *origin["message"]], "is required for 'message'")
            complete = False
        return complete

    def result(self) -> list[EventCreate]:
        if self.errors:
            raise InvalidBody(self.errors)
        return self.events


def take_chat_fields(
    event: dict[str, Any], properties: dict[str, Any], origin: dict[str, Loc], where: Loc
) -> None:
    """A chat event's message, role and CTA id are read from (and taken out of) its
    properties, and so is an assistant's reply's model usage."""
    reply = event["event_type"] == "message" and properties.get("role") == "assistant"
    for name in (CHAT_FIELDS + USAGE_FIELDS) if reply else CHAT_FIELDS:
        origin[name] = [*where, name]
        if name in properties:
            event[name] = properties.pop(name)


def take_session(
    event: dict[str, Any],
    properties: dict[str, Any],
    names: tuple[str, ...],
    origin: dict[str, Loc],
    where: Loc,
) -> None:
    for name in names:
        if properties.get(name) is not None:
            event["session_id"] = properties.pop(name)
            origin["session_id"] = [*where, name]
            return
        properties.pop(name, None)  # null: no session
    event["session_id"] = ""
    origin["session_id"] = [*where, names[0]]


class ForeignAnswers(ABC):
    """How an SDK's format answers: on success, the same body (`SUCCESS`) whatever was stored;
    on a refusal, its own error body, with the status codes its SDKs tell apart
    (`KEPT_STATUSES`, and server errors) and 400 for any other fault of the request."""

    SUCCESS: ClassVar[bytes]
    KEPT_STATUSES: ClassVar[tuple[int, ...]]

    def success(self, result: WriteResult, events: list[EventCreate]) -> bytes:
        return self.SUCCESS

    def refusal(self, exc: APIError) -> JSONResponse:
        status = exc.status_code
        if status not in self.KEPT_STATUSES and status < 499:
            status = 400
        return JSONResponse(self.error_body(exc, status), status_code=status, headers=exc.headers)

    @abstractmethod
    def error_body(self, exc: APIError, status: int) -> dict[str, Any]:
        """The SDK's error body for `exc`, answered with `status`."""


def invalid(loc: Loc, msg: str) -> APIError:
    """A refusal of the request as a whole (its shape, its size), naming where."""
    return InvalidBody([{"loc": loc, "msg": msg, "type": "value_error"}])


def in_words(detail: Any) -> str:
    """A refusal's detail as one line, `batch.3.userId: Field required; ...`, for SDKs that
    log a message string."""
    if isinstance(detail, str):
        return detail
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}".lstrip(": ")
        for error in detail
    )


def refusal_docs(schema: dict[str, Any], described: dict[int, str]) -> dict[int | str, Any]:
    """OpenAPI `responses` for an SDK's refusals, answered in its own error shape."""
    return {
        status: {
            "content": {"application/json": {"schema": schema}},
            "description": text,
            **({"headers": RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status, text in described.items()
    }
