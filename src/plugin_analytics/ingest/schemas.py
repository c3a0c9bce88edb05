"""What the plugin may send, and what ingestion answers."""

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

MAX_ID_CHARS = 256
MAX_MESSAGE_BYTES = 32 * 1024
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_BATCH_EVENTS = 1000
MAX_FUTURE_SKEW = timedelta(hours=24)


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL, so we refuse it on every database alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return value


def _message_size(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (32 KiB)")
    return value


def _properties_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    _no_nul(encoded.replace("\\u0000", "\x00"))
    size = len(_encodable(encoded).encode("utf-8"))
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"is {size} bytes; the limit is {MAX_PROPERTIES_BYTES} bytes (16 KiB)")
    return value


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2026-11-24T10:15:00Z")
    return value


def _not_far_future(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value > datetime.now(UTC) + MAX_FUTURE_SKEW:
        raise ValueError("is more than 24 hours in the future")
    return value


TEXT_CHECKS = (AfterValidator(_no_nul), AfterValidator(_encodable))
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=r"\S"), *TEXT_CHECKS
]
Message = Annotated[str, *TEXT_CHECKS, AfterValidator(_message_size)]
Properties = Annotated[dict[str, Any] | None, AfterValidator(_properties_size)]
Timestamp = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_not_far_future)]


class EventCreate(BaseModel):
    """A chat message or CTA click as the plugin posts it."""

    model_config = ConfigDict(extra="ignore")

    user_id: Identifier = Field(description="The visitor; stable across their sessions.")
    session_id: Identifier = Field(description="One conversation with the chat plugin.")
    event_type: Literal["message", "cta_click"] = Field(
        description="`message` for a chat message, `cta_click` for a call-to-action click."
    )
    message: Message = Field(
        default="", description="Message text (required for messages), or the CTA's label."
    )
    event_id: Identifier | None = Field(
        default=None,
        description="Client-chosen unique id; an event with an id already stored is not stored "
        "again (safe retries). Generated when absent.",
    )
    timestamp: Timestamp | None = Field(
        default=None,
        description="ISO 8601 event time (UTC if no offset); at most 24 h ahead; "
        "past times are accepted (backfill). Default: the time the server received it.",
    )
    role: Literal["user", "assistant"] = Field(default="user", description="Who wrote the message.")
    cta_id: Identifier | None = Field(default=None, description="Which CTA was clicked.")
    properties: Properties = Field(
        default=None, description="Free-form JSON object, at most 16 KiB."
    )

    @model_validator(mode="after")
    def message_has_text(self) -> "EventCreate":
        if self.event_type == "message" and not self.message.strip():
            raise ValueError("message must not be empty for event_type 'message'")
        return self


class BatchCreate(BaseModel):
    """Up to 1,000 events stored together, all or none."""

    events: list[EventCreate] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class IngestStatus(BaseModel):
    status: Literal["success"] = "success"


class BatchStatus(BaseModel):
    status: Literal["success"] = "success"
    received: int = Field(description="Events in the batch.")
    new: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events whose event_id was already stored.")
