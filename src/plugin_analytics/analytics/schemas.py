"""Analytics answers. The definitions are in docs/metrics.md."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PlainSerializer

from plugin_analytics.derived.activity import Activity


class Metrics(BaseModel):
    total_messages: int = Field(description="Chat messages, user and assistant.")
    unique_users: int = Field(description="Distinct users with a message or CTA click.")
    cta_clicks: int = Field(description="CTA clicks.")
    sessions: int = Field(description="Distinct sessions with a message or CTA click.")
    user_messages: int = Field(description="Messages written by users.")
    assistant_messages: int = Field(description="Messages written by the assistant.")
    converted_sessions: int = Field(description="Sessions with at least one CTA click.")
    conversion_rate: float = Field(
        description="converted_sessions / sessions, a fraction from 0 to 1 (0 without sessions)."
    )
    messages_per_session: float = Field(
        description="total_messages / sessions (0 without sessions)."
    )

    @classmethod
    def of(cls, activity: Activity) -> dict[str, int | float]:
        """The metric values of `activity`."""
        sessions = len(activity.sessions)
        converted = len(activity.converted_sessions)
        messages = activity.user_messages + activity.assistant_messages
        return {
            "total_messages": messages,
            "unique_users": len(activity.users),
            "cta_clicks": activity.cta_clicks,
            "sessions": sessions,
            "user_messages": activity.user_messages,
            "assistant_messages": activity.assistant_messages,
            "converted_sessions": converted,
            "conversion_rate": converted / sessions if sessions else 0.0,
            "messages_per_session": messages / sessions if sessions else 0.0,
        }


class RangeEcho(BaseModel):
    start_date: date = Field(description="First day, inclusive.")
    end_date: date = Field(description="Last day, inclusive.")
    tz: str = Field(description="The IANA time zone the days are in.")


class Summary(Metrics, RangeEcho):
    plugins: dict[str, dict[str, int | float | None]] = Field(
        default_factory=dict,
        description="Metrics added by installed analytics modules, by module name.",
    )
    plugin_errors: dict[str, str] = Field(
        default_factory=dict,
        description="Modules whose metrics failed this time, with the error; the rest stand.",
    )


# isoformat keeps an offset's seconds (historical local mean time), which pydantic would drop.
LocalTime = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


class TimeseriesBucket(Metrics):
    start: LocalTime = Field(description="Bucket start, local time with its UTC offset.")
    end: LocalTime = Field(description="Bucket end (exclusive), local time with its UTC offset.")


class Timeseries(RangeEcho):
    interval: Literal["hour", "day", "week"]
    buckets: list[TimeseriesBucket] = Field(description="Every bucket of the range, empty ones 0.")


class PrecedingMessage(BaseModel):
    message: str
    clicks: int


class CtaReport(BaseModel):
    cta_id: str | None = Field(description="null groups clicks sent without a cta_id.")
    clicks: int
    unique_users: int
    converted_sessions: int = Field(description="Distinct sessions with a click on this CTA.")
    share_of_clicks: float = Field(description="This CTA's clicks / all clicks (0 to 1).")
    preceding_assistant_messages: list[PrecedingMessage] = Field(
        description="The assistant messages most often shown just before a click on this CTA."
    )


class CtaReports(RangeEcho):
    total_clicks: int
    ctas: list[CtaReport]
