"""What the plugin may send, and what ingestion answers."""

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from plugin_analytics.db.models import CHAT_EVENT_TYPES

MAX_ID_CHARS = 256
MAX_MESSAGE_BYTES = 32 * 1024
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_BATCH_EVENTS = 1000
MAX_FUTURE_SKEW = timedelta(hours=24)
MAX_TOKENS = 1_000_000_000
MAX_LATENCY_MS = 24 * 3600 * 1000
# What an assistant's reply may say about the model that wrote it (GET /analytics/ai).
USAGE_FIELDS = ("model", "input_tokens", "output_tokens", "latency_ms")
# Pydantic also reads digit strings as Unix times, so "20260101" would become a 1970 date.
WRITE_KEY_FIELD = (
    "The write key, for clients that cannot set headers (sendBeacon); X-Write-Key or HTTP "
    "Basic work too. Needed only when write keys are configured."
)
SITE_FIELD = (
    "The site the events belong to (its id), while ingestion is open (no write key exists); "
    "with a write key, its own site. X-Site works too. Default: `default`."
)
Site = Annotated[
    str, Field(max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description=SITE_FIELD)
]
ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _reject_nul(value: str) -> None:
    # PostgreSQL text cannot hold NUL, so we refuse it on every database alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")


def _utf8_size(value: str) -> int:
    # ASCII is one byte a character; anything else is encoded, which also finds lone surrogates.
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc


def clean_text(value: str) -> str:
    _reject_nul(value)
    _utf8_size(value)
    return value


def _clean_message(value: str) -> str:
    _reject_nul(value)
    size = _utf8_size(value)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (32 KiB)")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return isinstance(value, list) and any(_has_nul(item) for item in value)


def encoded_json(value: Any) -> str:
    """`value` as compact JSON text, UTF-8 as is; ValueError for what no database here stores:
    NUL characters, NaN and Infinity."""
    if _has_nul(value):
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise ValueError("must not contain NaN or Infinity (not valid JSON)") from None


def _properties_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    size = _utf8_size(encoded_json(value))
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"is {size} bytes; the limit is {MAX_PROPERTIES_BYTES} bytes (16 KiB)")
    return value


def iso_text(value: Any) -> Any:
    if not isinstance(value, str) or not ISO_DATE_START.match(value):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-24T10:15:00Z")
    return value


def not_far_future(value: datetime) -> datetime:
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None
    if value > datetime.now(UTC) + MAX_FUTURE_SKEW:
        raise ValueError("is more than 24 hours in the future")
    return value


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S"),
    AfterValidator(clean_text),
]
Message = Annotated[str, AfterValidator(_clean_message)]
Properties = Annotated[dict[str, Any] | None, AfterValidator(_properties_size)]
Timestamp = Annotated[datetime, BeforeValidator(iso_text), AfterValidator(not_far_future)]


# Strict: a JSON number only, not "12" or true.
Tokens = Annotated[int, Strict(), Field(ge=0, le=MAX_TOKENS)]
LatencyMs = Annotated[float, Strict(), Field(ge=0, le=MAX_LATENCY_MS)]


def known_event_type(value: str, info: ValidationInfo) -> str:
    """Ours, or one an installed analytics module accepts (the validation context's
    `event_types`, see modules/registry.py)."""
    extra = info.context.get("event_types", ()) if info.context else ()
    if value in CHAT_EVENT_TYPES or value in extra:
        return value
    modules = f", or an installed module's: {', '.join(map(repr, sorted(extra)))}" if extra else ""
    raise PydanticCustomError(
        "literal_error", "Input should be 'message' or 'cta_click'{modules}", {"modules": modules}
    )


def message_text(value: str, info: ValidationInfo) -> str:
    if info.data.get("event_type") == "message" and not value.strip():
        raise ValueError("must not be empty for event_type 'message'")
    return value


def message_present(event: "EventCreate") -> "EventCreate":
    # `message` may be left out of a CTA click, so only the whole event can say it is missing.
    if event["event_type"] == "message" and "message" not in event:
        raise ValueError("message is required for event_type 'message'")
    return event


def usage_on_replies(event: "EventCreate") -> "EventCreate":
    # Only the whole event knows its type and role.
    given = [name for name in USAGE_FIELDS if event.get(name) is not None]
    if given and (event["event_type"] != "message" or event.get("role") != "assistant"):
        raise ValueError(
            f"{', '.join(given)}: only an assistant's message (event_type 'message', role "
            "'assistant') may say which model wrote it and what that cost"
        )
    return event


# A TypedDict, not a BaseModel: pydantic validates it from JSON about three times faster, and
# ingestion validates every event. Absent optional keys stay absent: readers apply the defaults
# documented here (`role` user, `message` empty, the rest null).
class EventCreate(TypedDict):
    """A chat message or CTA click as the plugin posts it. Unknown keys are ignored."""

    user_id: Annotated[Identifier, Field(description="The visitor; stable across sessions.")]
    session_id: Annotated[Identifier, Field(description="One conversation with the plugin.")]
    event_type: Annotated[
        str,
        AfterValidator(known_event_type),
        Field(
            description="`message` for a chat message, `cta_click` for a CTA click, or an "
            "event type an installed analytics module accepts (GET /plugins), e.g. `feedback`.",
            examples=["message", "cta_click"],
        ),
    ]
    message: NotRequired[
        Annotated[
            Message,
            AfterValidator(message_text),
            Field(description="Message text (required for messages), or the CTA's label."),
        ]
    ]
    event_id: NotRequired[
        Annotated[
            Identifier | None,
            Field(
                description="Client-chosen unique id: an event whose id is already stored is "
                "not stored again (safe retries). Generated (UUIDv7) when absent."
            ),
        ]
    ]
    timestamp: NotRequired[
        Annotated[
            Timestamp | None,
            Field(
                description="ISO 8601 event time (UTC if no offset), at most 24 h ahead; past "
                "times are accepted (backfill). Default: when the server received it."
            ),
        ]
    ]
    role: NotRequired[
        Annotated[Literal["user", "assistant"], Field(description="Who wrote it. Default: `user`.")]
    ]
    cta_id: NotRequired[Annotated[Identifier | None, Field(description="Which CTA was clicked.")]]
    properties: NotRequired[
        Annotated[Properties, Field(description="Free-form JSON object, at most 16 KiB.")]
    ]
    model: NotRequired[
        Annotated[
            Identifier | None,
            Field(description="Assistant messages: the model that wrote the reply."),
        ]
    ]
    input_tokens: NotRequired[
        Annotated[Tokens | None, Field(description="Assistant messages: prompt tokens used.")]
    ]
    output_tokens: NotRequired[
        Annotated[Tokens | None, Field(description="Assistant messages: tokens generated.")]
    ]
    latency_ms: NotRequired[
        Annotated[
            LatencyMs | None,
            Field(description="Assistant messages: milliseconds the model took to answer."),
        ]
    ]
    write_key: NotRequired[Annotated[str, Field(description=WRITE_KEY_FIELD)]]
    site: NotRequired[Site]


ValidEvent = Annotated[
    EventCreate, AfterValidator(message_present), AfterValidator(usage_on_replies)
]


class BatchCreate(TypedDict):
    """Up to 1,000 events stored together, all or none."""

    events: Annotated[list[ValidEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
    write_key: NotRequired[Annotated[str, Field(description=WRITE_KEY_FIELD)]]
    site: NotRequired[Site]


class IngestStatus(BaseModel):
    status: Literal["success"] = "success"


class BatchStatus(BaseModel):
    status: Literal["success"] = "success"
    received: int = Field(description="Events in the batch.")
    new: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events whose event_id was already stored.")
