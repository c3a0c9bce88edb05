"""Reading ratings: the last one each user gave each answer, and the answers they rate."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired

from pydantic import StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import Connection, literal_column, select
from typing_extensions import TypedDict

from plugin_analytics.modules import (
    DateRange,
    Identifier,
    chunked,
    event_table,
    from_epoch_us,
    question_key,
)

LOOKUP_CHUNK = 500
MAX_COMMENT_CHARS = 2000


class FeedbackProperties(TypedDict):
    """The properties of a `feedback` event."""

    rating: Literal["up", "down"]
    message_id: Identifier  # the event_id of the assistant message rated
    comment: NotRequired[Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)]]


PROPERTIES: TypeAdapter[FeedbackProperties] = TypeAdapter(FeedbackProperties)


@dataclass(frozen=True)
class Rating:
    user_id: str
    message_id: str
    up: bool
    comment: str | None


@dataclass
class Tally:
    up: int = 0
    down: int = 0
    comments: list[str] = field(default_factory=list)

    def add(self, rating: Rating) -> None:
        if rating.up:
            self.up += 1
        else:
            self.down += 1
        if rating.comment and rating.comment.strip():
            self.comments.append(rating.comment.strip())

    @property
    def ratings(self) -> int:
        return self.up + self.down

    @property
    def satisfaction(self) -> float | None:
        """Thumbs up / ratings; None without ratings."""
        return self.up / self.ratings if self.ratings else None


def ratings_in(connection: Connection, span: DateRange) -> list[Rating]:
    """The ratings given in `span`: per user and answer, the last (by event time, then
    arrival). Events stored before the module was installed, that it would have refused, are
    left out."""
    event = event_table
    query = (
        select(event.c.user_id, event.c.properties)
        .where(
            event.c.site_num == span.site_num,
            event.c.event_type == literal_column("'feedback'"),
            event.c.occurred_at >= from_epoch_us(span.start_us),
            event.c.occurred_at < from_epoch_us(span.end_us),
        )
        .order_by(event.c.occurred_at, event.c.id)
    )
    latest: dict[tuple[str, str], Rating] = {}
    for user_id, properties in connection.execute(query):
        try:
            given = PROPERTIES.validate_python(properties or {})
        except ValidationError:
            continue
        message_id = given["message_id"]
        latest[(user_id, message_id)] = Rating(
            user_id, message_id, given["rating"] == "up", given.get("comment")
        )
    return list(latest.values())


@dataclass(frozen=True)
class Answer:
    text: str
    model: str | None
    session_id: str


def answers(connection: Connection, site_num: int, message_ids: Iterable[str]) -> dict[str, Answer]:
    """The site's assistant messages with these event_ids (a rated id that is not one is
    absent)."""
    event = event_table
    wanted = sorted(set(message_ids))
    found: dict[str, Answer] = {}
    for chunk in chunked(wanted, LOOKUP_CHUNK):
        query = select(event.c.event_id, event.c.message, event.c.model, event.c.session_id).where(
            event.c.site_num == site_num,
            event.c.event_id.in_(chunk),
            event.c.event_type == "message",
            event.c.role == "assistant",
        )
        for event_id, text, model, session_id in connection.execute(query):
            found[event_id] = Answer(text, model, session_id)
    return found


@dataclass
class RatedAnswer:
    """One answer text (its spellings folded together), however many times it was given."""

    text: str | None  # None: the rated message is not stored (never sent, or erased)
    models: set[str] = field(default_factory=set)
    tally: Tally = field(default_factory=Tally)
    message_ids: list[str] = field(default_factory=list)


def rated_answers(
    connection: Connection, site_num: int, ratings: list[Rating]
) -> list[RatedAnswer]:
    """The site's ratings grouped by the answer they rate, worst first: most thumbs down, then
    the lowest satisfaction, then the text."""
    texts = answers(connection, site_num, (rating.message_id for rating in ratings))
    grouped: dict[tuple[str, str], RatedAnswer] = {}
    for rating in ratings:
        answer = texts.get(rating.message_id)
        # Spellings of one answer fold together; an answer of punctuation alone keeps its own.
        key = ("answer", question_key(answer.text) or answer.text) if answer else ("unknown", "")
        entry = grouped.setdefault(key, RatedAnswer(answer.text if answer else None))
        if answer and answer.model:
            entry.models.add(answer.model)
        entry.tally.add(rating)
        if rating.message_id not in entry.message_ids:
            entry.message_ids.append(rating.message_id)
    return sorted(grouped.values(), key=_worst_first)


def _worst_first(answer: RatedAnswer) -> tuple[Any, ...]:
    return (-answer.tally.down, answer.tally.satisfaction or 0.0, answer.text or "")


def by_model(
    connection: Connection, site_num: int, ratings: list[Rating]
) -> dict[str | None, Tally]:
    """The site's ratings per model that wrote the rated answer (None: unknown)."""
    texts = answers(connection, site_num, (rating.message_id for rating in ratings))
    tallies: dict[str | None, Tally] = {}
    for rating in ratings:
        answer = texts.get(rating.message_id)
        tallies.setdefault(answer.model if answer else None, Tally()).add(rating)
    return tallies
