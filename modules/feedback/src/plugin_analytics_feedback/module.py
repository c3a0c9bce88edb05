"""The module: the `feedback` event type, two routes, summary metrics and a report section."""

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from plugin_analytics.modules import (
    RANGE_REFUSALS,
    DateRange,
    Module,
    RangeDep,
    RangeEcho,
    ReportSection,
    SessionDep,
    range_echo,
    shorten,
    snapshot,
    week_before,
)
from plugin_analytics_feedback.ratings import (
    FeedbackProperties,
    Rating,
    Tally,
    by_model,
    rated_answers,
    ratings_in,
)

REPORT_WORST = 3
SHOWN_COMMENTS = 3
SHOWN_IDS = 5
ANSWER_CHARS = 120


class ModelSatisfaction(BaseModel):
    model: str | None = Field(description="The model that wrote the rated answers (null: unknown).")
    ratings: int
    thumbs_up: int
    thumbs_down: int
    satisfaction_rate: float | None


class FeedbackSummary(RangeEcho):
    ratings: int = Field(description="Answers rated: the last rating of each user for each.")
    thumbs_up: int
    thumbs_down: int
    satisfaction_rate: float | None = Field(description="thumbs_up / ratings; null without any.")
    comments: int = Field(description="Ratings that came with a comment.")
    by_model: list[ModelSatisfaction] = Field(description="Most rated model first.")


class WorstAnswer(BaseModel):
    answer: str | None = Field(description="The answer's text; null when it is not stored.")
    models: list[str]
    thumbs_down: int
    thumbs_up: int
    satisfaction_rate: float | None
    message_ids: list[str] = Field(description=f"Up to {SHOWN_IDS} rated event_ids of it.")
    comments: list[str] = Field(description=f"Up to {SHOWN_COMMENTS} comments on it.")


class WorstAnswers(RangeEcho):
    answers: list[WorstAnswer] = Field(description="Most thumbs down first.")


router = APIRouter()


@router.get("/summary", response_model=FeedbackSummary, responses=RANGE_REFUSALS)
def feedback_summary(session: SessionDep, span: RangeDep) -> FeedbackSummary:
    """Ratings and satisfaction over whole days in `tz`, overall and per model."""
    connection = snapshot(session)
    ratings = ratings_in(connection, span)
    total = _tally(ratings)
    per_model = sorted(
        by_model(connection, span.site_num, ratings).items(),
        key=lambda item: (-item[1].ratings, item[0] or ""),
    )
    return FeedbackSummary(
        **range_echo(span),
        ratings=total.ratings,
        thumbs_up=total.up,
        thumbs_down=total.down,
        satisfaction_rate=total.satisfaction,
        comments=len(total.comments),
        by_model=[
            ModelSatisfaction(
                model=model,
                ratings=tally.ratings,
                thumbs_up=tally.up,
                thumbs_down=tally.down,
                satisfaction_rate=tally.satisfaction,
            )
            for model, tally in per_model
        ],
    )


@router.get("/worst", response_model=WorstAnswers, responses=RANGE_REFUSALS)
def worst_answers(
    session: SessionDep,
    span: RangeDep,
    limit: Annotated[int, Query(ge=1, le=100, description="How many answers.")] = 10,
) -> WorstAnswers:
    """The worst-rated answers: the same answer text given many times counts as one."""
    connection = snapshot(session)
    worst = [
        answer
        for answer in rated_answers(connection, span.site_num, ratings_in(connection, span))
        if answer.tally.down
    ]
    return WorstAnswers(
        **range_echo(span),
        answers=[
            WorstAnswer(
                answer=answer.text,
                models=sorted(answer.models),
                thumbs_down=answer.tally.down,
                thumbs_up=answer.tally.up,
                satisfaction_rate=answer.tally.satisfaction,
                message_ids=answer.message_ids[:SHOWN_IDS],
                comments=answer.tally.comments[:SHOWN_COMMENTS],
            )
            for answer in worst[:limit]
        ],
    )


def _tally(ratings: list[Rating]) -> Tally:
    total = Tally()
    for rating in ratings:
        total.add(rating)
    return total


class FeedbackModule(Module):
    name = "feedback"
    description = "Thumbs up/down on the assistant's answers: satisfaction and worst answers."
    event_types: ClassVar[Mapping[str, Any]] = {"feedback": FeedbackProperties}

    def router(self) -> APIRouter:
        return router

    def summary(self, connection: Connection, span: DateRange) -> Mapping[str, int | float | None]:
        total = _tally(ratings_in(connection, span))
        return {
            "ratings": total.ratings,
            "thumbs_up": total.up,
            "thumbs_down": total.down,
            "satisfaction_rate": total.satisfaction,
        }

    def report_section(self, connection: Connection, week: DateRange) -> ReportSection:
        ratings = ratings_in(connection, week)
        total = _tally(ratings)
        if not total.ratings:
            return ReportSection("User feedback", ["No answers were rated this week."])
        before = _tally(ratings_in(connection, week_before(week))).satisfaction
        compared = f" (the week before: {before:.0%})" if before is not None else ""
        paragraph = (
            f"{total.ratings:,} {'answer was' if total.ratings == 1 else 'answers were'} rated "
            f"this week: {total.satisfaction or 0:.0%} thumbs up{compared}."
        )
        worst = [a for a in rated_answers(connection, week.site_num, ratings) if a.tally.down][
            :REPORT_WORST
        ]
        rows = [
            (
                shorten(answer.text, ANSWER_CHARS) if answer.text else "(answer not stored)",
                f"{answer.tally.down} down, {answer.tally.up} up",
            )
            for answer in worst
        ]
        if rows:
            paragraph += " The worst-rated answers:"
        return ReportSection("User feedback", [paragraph], rows)
