"""Transcript shapes."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: str
    user_id: str
    session_id: str
    event_type: str
    role: str
    message: str
    cta_id: str | None
    properties: dict[str, Any] | None
    timestamp: datetime = Field(description="When the event happened (UTC).")
    received_at: datetime = Field(description="When the server stored it (UTC).")


class SessionTranscript(BaseModel):
    session_id: str
    events: list[EventPublic]


class SessionPage(SessionTranscript):
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class UserHistory(BaseModel):
    user_id: str
    traits: dict[str, Any] | None = Field(
        description="What identify calls (Segment) and $set (PostHog) said about the user, "
        "merged in event time order; null when nothing did."
    )
    sessions: list[SessionTranscript] = Field(
        description="This page's events grouped by session, in order of each session's first event "
        "on the page; a session can continue on the next page."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
