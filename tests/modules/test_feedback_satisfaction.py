"""The feedback module: the last rating of each user for each answer counts (and a brute force)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.helpers import empty
from tests.modules.feedback_helpers import (
    DAY,
    ONE_DAY,
    SQLITE_ONLY,
    answer,
    feedback_summary,
    plugin_metrics,
    post,
    rating,
    worst,
)

pytestmark = pytest.mark.anyio

# --- satisfaction: the last rating counts --------------------------------------------------

# The answers of the brute-force checks: event_id -> (text, model); "ghost" is never sent.
ANSWERS: dict[str, tuple[str, str | None]] = {
    "a1": ("We ship to Norway.", "gpt-4o"),
    "a2": ("we ship to   NORWAY", "llama-3"),
    "a3": ("Free over 50 EUR.", "gpt-4o"),
    "a4": ("Call us.", None),
}
# What each rated id is, for the worst answers: its spellings are one answer.
GROUP = {"a1": "norway", "a2": "norway", "a3": "free", "a4": "call", "ghost": "unknown"}


@dataclass(frozen=True)
class Given:
    """A rating as posted; ratings are posted in list order."""

    user: str
    message_id: str
    up: bool
    at: datetime
    comment: str | None = None

    def body(self) -> dict[str, Any]:
        when = self.at.isoformat().replace("+00:00", "Z")
        return rating(self.user, self.message_id, "up" if self.up else "down", when, self.comment)


def last_ratings(ratings: list[Given], start: datetime, end: datetime) -> list[Given]:
    """Per user and answer, the last rating in [start, end): by time, then by arrival."""
    latest: dict[tuple[str, str], Given] = {}
    for _, one in sorted(enumerate(ratings), key=lambda pair: (pair[1].at, pair[0])):
        if start <= one.at < end:
            latest[one.user, one.message_id] = one
    return list(latest.values())


def tally(ratings: list[Given]) -> dict[str, Any]:
    up = sum(one.up for one in ratings)
    return {
        "ratings": len(ratings),
        "thumbs_up": up,
        "thumbs_down": len(ratings) - up,
        "satisfaction_rate": up / len(ratings) if ratings else None,
    }


def expected_summary(ratings: list[Given]) -> dict[str, Any]:
    per_model: defaultdict[str | None, list[Given]] = defaultdict(list)
    for one in ratings:
        per_model[ANSWERS.get(one.message_id, ("", None))[1]].append(one)
    return {
        **tally(ratings),
        "comments": sum(bool(one.comment and one.comment.strip()) for one in ratings),
        "by_model": sorted(
            ({"model": model, **tally(group)} for model, group in per_model.items()),
            key=lambda entry: (-entry["ratings"], entry["model"] or ""),
        ),
    }


def expected_worst(ratings: list[Given]) -> list[tuple[int, int, str]]:
    """(thumbs down, thumbs up, answer group) of each answer with a thumbs down."""
    groups: defaultdict[str, list[Given]] = defaultdict(list)
    for one in ratings:
        groups[GROUP[one.message_id]].append(one)
    counted = [(tally(group), name) for name, group in groups.items()]
    return sorted(
        (counts["thumbs_down"], counts["thumbs_up"], name)
        for counts, name in counted
        if counts["thumbs_down"]
    )


def group_of(entry: dict[str, Any]) -> str:
    """The group of a worst answer, from its message ids (all of one group)."""
    [name] = {GROUP[message_id] for message_id in entry["message_ids"]}
    return name


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)


async def check_against_brute_force(
    client: httpx.AsyncClient, ratings: list[Given], first: date, last: date
) -> None:
    params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
    counted = last_ratings(ratings, *day_bounds(first, last))
    summary = await feedback_summary(client, **params)
    expected = expected_summary(counted)
    assert {name: summary[name] for name in expected if name != "by_model"} == {
        name: value for name, value in expected.items() if name != "by_model"
    }
    assert sorted(summary["by_model"], key=str) == sorted(expected["by_model"], key=str)
    assert [entry["ratings"] for entry in summary["by_model"]] == sorted(
        (entry["ratings"] for entry in summary["by_model"]), reverse=True
    )
    assert await plugin_metrics(client, **params) == tally(counted)

    answers = await worst(client, **params, limit=100)
    assert sorted(
        (entry["thumbs_down"], entry["thumbs_up"], group_of(entry)) for entry in answers
    ) == expected_worst(counted)
    keys = [
        (-entry["thumbs_down"], entry["satisfaction_rate"], entry["answer"] or "")
        for entry in answers
    ]
    assert keys == sorted(keys)  # most thumbs down, then lowest satisfaction, then text
    for entry in answers:
        spellings: set[str | None] = {ANSWERS[i][0] for i in entry["message_ids"] if i in ANSWERS}
        assert entry["answer"] in (spellings or {None})


def moment(day: int, minute: int) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, 10, minute, tzinfo=UTC) + timedelta(days=day)


async def test_the_last_rating_of_each_user_for_each_answer_counts(
    client: httpx.AsyncClient,
) -> None:
    await post(client, [answer(event_id, text, model=m) for event_id, (text, m) in ANSWERS.items()])
    # Each inner list is one request, in this order.
    requests = [
        [
            Given("u1", "a1", True, moment(0, 1)),
            Given("u1", "a1", False, moment(0, 5), "Changed my mind"),  # later: counts
            Given("u2", "a1", False, moment(0, 3)),
            Given("u2", "a1", True, moment(0, 3)),  # same time, arrived later: counts
        ],
        [Given("u3", "a3", True, moment(0, 7))],
        [Given("u3", "a3", False, moment(0, 7))],  # same time, a later request: counts
        [Given("u4", "a3", True, moment(0, 9))],
        [Given("u4", "a3", False, moment(0, 8))],  # earlier, though it arrived later
        [
            Given("u5", "a2", False, moment(-1, 0)),  # the day before: another range's
            Given("u5", "a2", True, moment(0, 2)),
            Given("u6", "a2", True, moment(0, 2)),
            Given("u6", "a2", False, moment(1, 0)),  # the day after: another range's
            Given("u6", "ghost", False, moment(0, 4), "   "),  # a blank comment is none
        ],
    ]
    for request in requests:
        await post(client, [one.body() for one in request])
    summary = await feedback_summary(client)
    assert summary == {
        **ONE_DAY,
        "tz": "UTC",
        "ratings": 7,
        "thumbs_up": 4,
        "thumbs_down": 3,
        "satisfaction_rate": 4 / 7,
        "comments": 1,
        "by_model": [
            {
                "model": "gpt-4o",
                "ratings": 4,
                "thumbs_up": 2,
                "thumbs_down": 2,
                "satisfaction_rate": 0.5,
            },
            {
                "model": "llama-3",
                "ratings": 2,
                "thumbs_up": 2,
                "thumbs_down": 0,
                "satisfaction_rate": 1.0,
            },
            {
                "model": None,
                "ratings": 1,
                "thumbs_up": 0,
                "thumbs_down": 1,
                "satisfaction_rate": 0.0,
            },
        ],
    }
    ratings = [one for request in requests for one in request]
    for first, last in [(DAY, DAY), (DAY - timedelta(days=1), DAY + timedelta(days=1))]:
        await check_against_brute_force(client, ratings, first, last)
    # Over three days, u5's and u6's ratings of a2 are the last of all three.
    wide = {"start_date": "2026-11-09", "end_date": "2026-11-11"}
    assert (await feedback_summary(client, **wide))["thumbs_up"] == 3
    # Days are local: 23:30 UTC the day before is 00:30 on DAY in Paris.
    await post(client, [rating("u7", "a4", "up", "2026-11-09T23:30:00Z")])
    assert (await feedback_summary(client))["ratings"] == 7
    paris = await feedback_summary(client, **ONE_DAY, tz="Europe/Paris")
    assert (paris["ratings"], paris["thumbs_up"]) == (8, 5)


GIVEN = st.builds(
    Given,
    user=st.sampled_from(["ana", "ben", "chen"]),
    message_id=st.sampled_from(sorted(GROUP)),
    up=st.booleans(),
    at=st.builds(moment, st.integers(-1, 1), st.integers(0, 2)),
    comment=st.sampled_from([None, "", "  ", "Great", "Wrong"]),
)


@SQLITE_ONLY
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ratings=st.lists(GIVEN, max_size=16), cuts=st.sets(st.integers(1, 15), max_size=3))
async def test_satisfaction_matches_a_brute_force(
    client: httpx.AsyncClient, engine: Engine, ratings: list[Given], cuts: set[int]
) -> None:
    empty(engine)
    await post(client, [answer(event_id, text, model=m) for event_id, (text, m) in ANSWERS.items()])
    bounds = [0, *sorted(cut for cut in cuts if cut < len(ratings)), len(ratings)]
    for start, end in pairwise(bounds):
        if end > start:
            await post(client, [one.body() for one in ratings[start:end]])
    await check_against_brute_force(client, ratings, DAY, DAY)
    await check_against_brute_force(client, ratings, DAY - timedelta(days=1), DAY)
