"""What the Segment and PostHog ingestion tests share: how a stored event reads back, and the
summary of a day with one converted chat."""

from typing import Any

# The summary of a day with one user's chat: a user message, the answer, a click on a CTA.
ONE_CONVERTED_CHAT = {
    "total_messages": 2,
    "unique_users": 1,
    "cta_clicks": 1,
    "sessions": 1,
    "user_messages": 1,
    "assistant_messages": 1,
    "converted_sessions": 1,
    "conversion_rate": 1.0,
    "messages_per_session": 2.0,
}


def stored_row(
    event_id: str,
    user_id: str,
    event_type: str,
    properties: dict[str, Any] | None = None,
    *,
    session_id: str = "",
    role: str = "user",
    message: str = "",
    cta_id: str | None = None,
) -> dict[str, Any]:
    """A stored event's own fields, as the database, the export and the history show them,
    without its times; the defaults are those of an event outside any chat."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "session_id": session_id,
        "event_type": event_type,
        "role": role,
        "message": message,
        "cta_id": cta_id,
        "properties": properties,
    }
