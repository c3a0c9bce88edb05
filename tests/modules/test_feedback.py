"""The shipped `feedback` module over HTTP through the app, on SQLite and PostgreSQL: ratings
ingested through every API (and refused, naming the field, with nothing stored), satisfaction
with the last rating of each user for each answer counting (checked against a brute force),
the worst answers, the summary's plugins.feedback, erasure, the admin key, and the weekly
report's "User feedback" section as a real SMTP server receives it."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.access.helpers import make_key
from tests.conftest import ADMIN, client_for
from tests.helpers import empty, event, stored_events
from tests.reports.conftest import settings_for
from tests.reports.smtp import SmtpServer

pytestmark = pytest.mark.anyio

DAY = date(2026, 11, 10)
ONE_DAY = {"start_date": DAY.isoformat(), "end_date": DAY.isoformat()}
NO_RATINGS = {"ratings": 0, "thumbs_up": 0, "thumbs_down": 0, "satisfaction_rate": None}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# --- events --------------------------------------------------------------------------------


def at(minute: int, day: date = DAY) -> str:
    return f"{day.isoformat()}T10:{minute:02d}:00Z"


def answer(event_id: str, text: str, *, model: str | None = None, user: str = "u1") -> Any:
    """An assistant's reply in `user`'s session, at 09:00 on DAY."""
    body = event(
        event_id=event_id,
        user_id=user,
        session_id=f"s-{user}",
        role="assistant",
        message=text,
        timestamp=f"{DAY.isoformat()}T09:00:00Z",
    )
    if model is not None:
        body["model"] = model
    return body


def rating(
    user: str, message_id: str, value: str, when: str, comment: str | None = None
) -> dict[str, Any]:
    properties = {"rating": value, "message_id": message_id}
    if comment is not None:
        properties["comment"] = comment
    return {
        "user_id": user,
        "session_id": f"s-{user}",
        "event_type": "feedback",
        "properties": properties,
        "timestamp": when,
    }


async def post(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    response = await client.post("/client/batch", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["new"] == len(events)


async def feedback_summary(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(
        "/plugins/feedback/summary", params=params or ONE_DAY, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def worst(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/plugins/feedback/worst", params={**ONE_DAY, **params}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    answers: list[dict[str, Any]] = response.json()["answers"]
    return answers


async def plugin_metrics(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/analytics/summary", params=params or ONE_DAY, headers=ADMIN)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["plugin_errors"] == {}
    return dict(summary["plugins"]["feedback"])


def feedback_rows(database_url: str) -> list[tuple[str, Any]]:
    return [
        (row["user_id"], row["properties"])
        for row in stored_events(database_url)
        if row["event_type"] == "feedback"
    ]


# --- ingestion -----------------------------------------------------------------------------


async def test_native_update_and_batch_store_ratings(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await post(client, [answer("a1", "We ship to Norway.", model="gpt-4o")])
    single = rating("u1", "a1", "up", at(1), comment="Spot on")
    response = await client.post("/client/update", json=single)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success"}
    longest = "x" * 2000
    await post(
        client, [rating("u2", "a1", "down", at(2), longest), rating("u3", "a1", "up", at(3))]
    )
    assert feedback_rows(database_url) == [
        ("u1", {"rating": "up", "message_id": "a1", "comment": "Spot on"}),
        ("u2", {"rating": "down", "message_id": "a1", "comment": longest}),
        ("u3", {"rating": "up", "message_id": "a1"}),
    ]
    summary = await feedback_summary(client)
    assert summary == {
        **ONE_DAY,
        "tz": "UTC",
        "ratings": 3,
        "thumbs_up": 2,
        "thumbs_down": 1,
        "satisfaction_rate": 2 / 3,
        "comments": 2,
        "by_model": [
            {
                "model": "gpt-4o",
                "ratings": 3,
                "thumbs_up": 2,
                "thumbs_down": 1,
                "satisfaction_rate": 2 / 3,
            }
        ],
    }
    # Ratings are not chat: the chat numbers count the one answer only.
    response = await client.get("/analytics/summary", params=ONE_DAY, headers=ADMIN)
    assert (response.json()["total_messages"], response.json()["unique_users"]) == (1, 1)


GOOD = {"rating": "up", "message_id": "a1"}
# Properties the module refuses: where in them, and pydantic's error type.
BAD_PROPERTIES: list[tuple[Any, list[tuple[list[str], str]]]] = [
    ({"rating": "meh", "message_id": "a1"}, [(["rating"], "literal_error")]),
    ({"rating": "UP", "message_id": "a1"}, [(["rating"], "literal_error")]),
    ({"rating": "up"}, [(["message_id"], "missing")]),
    ({"rating": "up", "message_id": "   "}, [(["message_id"], "string_pattern_mismatch")]),
    ({"rating": "up", "message_id": "m" * 257}, [(["message_id"], "string_too_long")]),
    ({"rating": "up", "message_id": 7}, [(["message_id"], "string_type")]),
    ({**GOOD, "comment": "x" * 2001}, [(["comment"], "string_too_long")]),
    ({**GOOD, "comment": 5}, [(["comment"], "string_type")]),
    ({}, [(["rating"], "missing"), (["message_id"], "missing")]),
    (None, [(["rating"], "missing"), (["message_id"], "missing")]),
]


async def test_native_refusals_name_the_property_and_store_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    good = [rating("u1", "a1", "up", at(1)), rating("u2", "a1", "down", at(2))]
    for properties, errors in BAD_PROPERTIES:
        bad = {**rating("u3", "a1", "up", at(3)), "properties": properties}
        response = await client.post("/client/batch", json={"events": [*good, bad]})
        assert response.status_code == 422, (properties, response.text)
        assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [
            (["body", "events", 2, "properties", *loc], kind) for loc, kind in errors
        ], properties
        response = await client.post("/client/update", json=bad)
        assert response.status_code == 422, (properties, response.text)
        assert [e["loc"] for e in response.json()["detail"]] == [
            ["body", "properties", *loc] for loc, _ in errors
        ]
    # Properties that are not an object are refused by the event schema itself.
    for properties in (["up", "a1"], "up"):
        bad = {**rating("u3", "a1", "up", at(3)), "properties": properties}
        response = await client.post("/client/batch", json={"events": [*good, bad]})
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [
            ["body", "events", 2, "properties"]
        ]
    # Without the property at all.
    bare = {key: value for key, value in rating("u3", "a1", "up", at(3)).items()}
    del bare["properties"]
    response = await client.post("/client/update", json=bare)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "properties", "rating"],
        ["body", "properties", "message_id"],
    ]
    assert stored_events(database_url) == []


async def test_an_unknown_event_type_is_refused_naming_the_modules(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await client.post("/client/update", json=event(event_type="survey"))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "event_type"]
    assert error["msg"] == (
        "Input should be 'message' or 'cta_click', or an installed module's: 'feedback'"
    )
    assert stored_events(database_url) == []


def segment_track(n: int, properties: Any, user: str = "u1") -> dict[str, Any]:
    return {
        "type": "track",
        "event": "feedback",
        "userId": user,
        "messageId": f"seg-{n}",
        "timestamp": at(n),
        "properties": properties,
    }


def segment_refusal(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["success"], body["code"]) == (False, "invalid_request")
    return [error["loc"] for error in body["detail"]]


async def test_segment_track_and_batch(client: httpx.AsyncClient, database_url: str) -> None:
    single = segment_track(1, {**GOOD, "session_id": "s-1"})
    del single["type"]
    response = await client.post("/v1/track", json=single)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    batch = [
        segment_track(2, {"rating": "down", "message_id": "a1", "comment": "Too slow"}, "u2"),
        segment_track(3, GOOD, "u3"),
    ]
    response = await client.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 200, response.text
    rows = stored_events(database_url)
    assert [(r["event_id"], r["event_type"], r["session_id"]) for r in rows] == [
        ("seg-1", "feedback", "s-1"),
        ("seg-2", "feedback", ""),
        ("seg-3", "feedback", ""),
    ]
    assert [r["properties"] for r in rows] == [
        GOOD,
        {"rating": "down", "message_id": "a1", "comment": "Too slow"},
        GOOD,
    ]
    summary = await feedback_summary(client)
    assert (summary["ratings"], summary["thumbs_up"], summary["comments"]) == (3, 2, 1)

    for properties, errors in BAD_PROPERTIES:
        if properties is None:  # Segment: no properties
            continue
        response = await client.post(
            "/v1/batch", json={"batch": [segment_track(4, GOOD), segment_track(5, properties)]}
        )
        assert segment_refusal(response) == [
            ["batch", 1, "properties", *loc] for loc, _ in errors
        ], properties
    response = await client.post(
        "/v1/batch", json={"batch": [segment_track(4, GOOD), segment_track(5, "thumbs up")]}
    )
    assert segment_refusal(response) == [["batch", 1, "properties"]]
    assert response.json()["detail"][0]["msg"] == "must be a JSON object"
    bad = segment_track(6, {"rating": "meh", "message_id": "a1"})
    del bad["type"]
    assert segment_refusal(await client.post("/v1/track", json=bad)) == [["properties", "rating"]]
    assert len(stored_events(database_url)) == 3


def posthog_event(uuid: str, properties: Any, user: str = "u1") -> dict[str, Any]:
    return {
        "event": "feedback",
        "distinct_id": user,
        "uuid": uuid,
        "timestamp": at(1),
        "properties": properties,
    }


def posthog_refusal(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["type"], body["code"]) == ("validation_error", "invalid_payload")
    return [error["loc"] for error in body["errors"]]


async def test_posthog_capture_and_batch(client: httpx.AsyncClient, database_url: str) -> None:
    single = {
        "api_key": "phc_project",
        **posthog_event("ph-1", {**GOOD, "$session_id": "s-1", "$lib": "web"}),
    }
    response = await client.post("/capture", json=single)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": 1}
    batch = [
        posthog_event("ph-2", {"rating": "down", "message_id": "a1", "comment": "Meh"}, "u2"),
        posthog_event("ph-3", GOOD, "u3"),
    ]
    response = await client.post("/batch", json={"api_key": "phc_project", "batch": batch})
    assert response.status_code == 200, response.text
    rows = stored_events(database_url)
    assert [(r["event_id"], r["user_id"], r["session_id"], r["properties"]) for r in rows] == [
        ("ph-1", "u1", "s-1", {**GOOD, "$lib": "web"}),
        ("ph-2", "u2", "", {"rating": "down", "message_id": "a1", "comment": "Meh"}),
        ("ph-3", "u3", "", GOOD),
    ]
    summary = await feedback_summary(client)
    assert (summary["ratings"], summary["thumbs_down"], summary["comments"]) == (3, 1, 1)

    for properties, errors in BAD_PROPERTIES:
        events = [posthog_event("ph-4", GOOD), posthog_event("ph-5", properties)]
        response = await client.post("/batch", json={"api_key": "k", "batch": events})
        assert posthog_refusal(response) == [
            ["batch", 1, "properties", *loc] for loc, _ in errors
        ], properties
    events = [posthog_event("ph-4", GOOD), posthog_event("ph-5", ["up"])]
    response = await client.post("/e/", json=events)  # a list of events
    assert posthog_refusal(response) == [[1, "properties"]]
    too_long = posthog_event("ph-6", {**GOOD, "comment": "y" * 2001})
    assert posthog_refusal(await client.post("/capture", json=too_long)) == [
        ["properties", "comment"]
    ]
    assert len(stored_events(database_url)) == 3


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
        spellings = {ANSWERS[i][0] for i in entry["message_ids"] if i in ANSWERS}
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


# --- the worst answers ---------------------------------------------------------------------


async def worst_answers_day(client: httpx.AsyncClient) -> None:
    """Answers in several spellings and models, rated (in time order) by u1..u6."""
    await post(
        client,
        [
            answer("n1", "We ship to Norway.", model="gpt-4o"),
            answer("n2", "we ship to   NORWAY", model="llama-3", user="u2"),
            answer("n3", "We ship to Norway!", model="gpt-4o", user="u3"),
            answer("c1", "Call us.", model="llama-3"),
            answer("f1", "Free over 50 EUR.", model="gpt-4o"),
            answer("m1", "Maybe."),
            answer("s1", "Sure."),
            answer("g1", "Glad to help!", model="gpt-4o"),
            event(event_id="q1", message="Hi", timestamp=at(0)),  # a user's message
        ],
    )
    minute = iter(range(60))
    ratings = [
        *(rating(f"u{n}", f"ghost-{n}", "down", at(next(minute))) for n in range(1, 6)),
        rating("u6", "q1", "down", at(next(minute))),
        rating("u1", "n1", "down", at(next(minute)), "Wrong, you do not"),
        rating("u2", "n2", "down", at(next(minute)), "No!"),
        rating("u3", "n3", "down", at(next(minute)), "Not true"),
        rating("u4", "n1", "up", at(next(minute))),
        rating("u5", "n2", "down", at(next(minute)), "Outdated"),
        rating("u6", "n2", "down", at(next(minute)), "  "),
        *(rating(f"u{n}", "c1", "down", at(next(minute))) for n in (1, 2)),
        *(rating(f"u{n}", "c1", "up", at(next(minute))) for n in (3, 4, 5)),
        rating("u1", "m1", "down", at(next(minute))),
        rating("u1", "f1", "down", at(next(minute))),
        rating("u1", "s1", "down", at(next(minute))),
        rating("u2", "s1", "up", at(next(minute))),
        *(rating(f"u{n}", "g1", "up", at(next(minute))) for n in (1, 2)),
    ]
    await post(client, ratings)


def worst_entry(
    answer: str | None, down: int, up: int, ids: list[str], **fields: Any
) -> dict[str, Any]:
    return {
        "answer": answer,
        "models": fields.get("models", []),
        "thumbs_down": down,
        "thumbs_up": up,
        "satisfaction_rate": up / (up + down),
        "message_ids": ids,
        "comments": fields.get("comments", []),
    }


NORWAY = ("We ship to Norway.", "we ship to   NORWAY", "We ship to Norway!")
WORST = [
    # Rated ids that are no assistant's answer (never sent, or a user's message) are one.
    worst_entry(None, 6, 0, ["ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5"]),
    worst_entry(
        NORWAY[0],
        5,
        1,
        ["n1", "n2", "n3"],
        models=["gpt-4o", "llama-3"],
        comments=["Wrong, you do not", "No!", "Not true"],  # the first three
    ),
    worst_entry("Call us.", 2, 3, ["c1"], models=["llama-3"]),  # more down, though liked more
    worst_entry("Free over 50 EUR.", 1, 0, ["f1"], models=["gpt-4o"]),  # a tie: by text
    worst_entry("Maybe.", 1, 0, ["m1"]),
    worst_entry("Sure.", 1, 1, ["s1"]),  # as many down, a higher satisfaction
]


async def test_worst_answers_most_thumbs_down_first(client: httpx.AsyncClient) -> None:
    await worst_answers_day(client)
    response = await client.get("/plugins/feedback/worst", params=ONE_DAY, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {name: body[name] for name in ("start_date", "end_date", "tz")} == {
        **ONE_DAY,
        "tz": "UTC",
    }
    answers = body["answers"]
    assert answers[1]["answer"] in NORWAY  # one of its spellings
    assert answers == [
        {**WORST[1], "answer": answers[1]["answer"]} if n == 1 else entry
        for n, entry in enumerate(WORST)
    ]
    assert await worst(client, limit=2) == answers[:2]
    assert await worst(client, limit=1) == answers[:1]
    assert await worst(client, limit=100) == answers
    for limit in (0, -1, 101, "many"):
        refused = await client.get(
            "/plugins/feedback/worst", params={**ONE_DAY, "limit": limit}, headers=ADMIN
        )
        assert refused.status_code == 422, (limit, refused.text)
        assert [error["loc"] for error in refused.json()["detail"]] == [["query", "limit"]]
    # Another day has none.
    assert await worst(client, start_date="2026-11-11", end_date="2026-11-11") == []


async def test_an_answer_of_punctuation_is_not_an_unknown_message(
    client: httpx.AsyncClient,
) -> None:
    await post(client, [answer("dots", "...")])
    await post(
        client,
        [rating("u1", "ghost", "down", at(1)), rating("u2", "dots", "down", at(2))],
    )
    assert await worst(client) == [
        worst_entry(None, 1, 0, ["ghost"]),
        worst_entry("...", 1, 0, ["dots"]),
    ]


async def test_summary_plugins_feedback(client: httpx.AsyncClient) -> None:
    assert await plugin_metrics(client) == NO_RATINGS
    await worst_answers_day(client)
    expected = {"ratings": 23, "thumbs_up": 7, "thumbs_down": 16, "satisfaction_rate": 7 / 23}
    assert await plugin_metrics(client) == expected
    summary = await feedback_summary(client)
    assert {name: summary[name] for name in expected} == expected
    assert summary["comments"] == 4
    assert await plugin_metrics(client, start_date="2026-11-11", end_date="2026-11-12") == (
        NO_RATINGS
    )


async def test_erasing_a_user_removes_their_ratings(client: httpx.AsyncClient) -> None:
    await worst_answers_day(client)
    response = await client.delete("/users/u1", headers=ADMIN)
    assert response.status_code == 200, response.text
    # u1's ratings (7), and the answers in u1's session (n1, c1, f1, m1, s1, g1).
    assert response.json() == {"user_id": "u1", "deleted_events": 13}
    expected = {"ratings": 16, "thumbs_up": 6, "thumbs_down": 10, "satisfaction_rate": 6 / 16}
    assert await plugin_metrics(client) == expected
    answers = await worst(client)
    assert answers[1]["answer"] in NORWAY[1:]
    assert answers == [
        # Others' ratings of the answers in u1's session are of answers no longer stored.
        worst_entry(None, 6, 6, ["ghost-2", "ghost-3", "ghost-4", "ghost-5", "q1"]),
        worst_entry(
            answers[1]["answer"],
            4,
            0,
            ["n2", "n3"],
            models=["gpt-4o", "llama-3"],
            comments=["No!", "Not true", "Outdated"],
        ),
    ]


async def test_feedback_routes_need_the_admin_key(database_url: str) -> None:
    write = make_key(database_url, "write").key
    async with client_for(settings_for(database_url)) as http:
        for path in ("/plugins/feedback/summary", "/plugins/feedback/worst"):
            missing = await http.get(path, params=ONE_DAY)
            assert missing.status_code == 401, missing.text
            assert "Bearer" in missing.headers["www-authenticate"]
            wrong = await http.get(path, params=ONE_DAY, headers={"Authorization": "Bearer no"})
            assert wrong.status_code == 401
            writer = await http.get(
                path, params=ONE_DAY, headers={"Authorization": f"Bearer {write}"}
            )
            assert writer.status_code == 403
            assert (await http.get(path, params=ONE_DAY, headers=ADMIN)).status_code == 200
            unknown_zone = await http.get(path, params={"tz": "Mars/Olympus"}, headers=ADMIN)
            assert unknown_zone.status_code == 400


# --- the weekly report ---------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
PROMO = "Use <b>promo</b> & save 10%"
RETURNS = "Returns are free within 30 days, " + "and we pay for the label " * 6


def last_monday() -> date:
    """Monday of the last complete week in Europe/Paris (the report's)."""
    today = datetime.now(PARIS).date()
    return today - timedelta(days=today.weekday() + 7)


def paris(monday: date, day: int, hour: int, minute: int = 0) -> str:
    moment = datetime.combine(monday + timedelta(days=day), time(hour, minute), PARIS)
    return moment.isoformat()


def report_events(monday: date) -> list[dict[str, Any]]:
    """The week: 9 answers rated (5 up), the worst w1, w2, w3; the week before: 50%."""
    before, after = monday - timedelta(days=7), monday + timedelta(days=7)
    answers = [
        ("w1", PROMO),
        ("w2", RETURNS),
        ("w3", "We ship to Norway."),
        ("w4", "Glad to help!"),
        ("w0", "An answer of the week before."),
    ]
    events = [
        event(event_id=i, message=text, role="assistant", timestamp=paris(monday, 0, 9))
        for i, text in answers
    ]
    week = [
        ("u1", "w1", "down"), ("u2", "w1", "down"), ("u3", "w1", "up"),
        ("u1", "w2", "down"),
        ("u2", "w3", "down"), ("u3", "w3", "up"),
        ("u1", "w4", "up"), ("u2", "w4", "up"), ("u3", "w4", "down"),
    ]  # fmt: skip
    events += [rating(u, i, value, paris(monday, 1, 10, n)) for n, (u, i, value) in enumerate(week)]
    events += [
        rating("u3", "w4", "up", paris(monday, 6, 23, 59)),  # u3 changes their mind: up
        rating("u1", "w0", "up", paris(before, 2, 12)),
        rating("u2", "w0", "down", paris(before, 2, 12)),
        rating("u4", "w1", "down", paris(after, 0, 0, 1)),  # after the week: not counted
    ]
    return events


def email_text(message: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML of a received report."""
    parts = {part.get_content_type(): part for part in message.walk()}
    return parts["text/plain"].get_content(), parts["text/html"].get_content()  # type: ignore[union-attr]


async def test_weekly_report_has_the_user_feedback_section(
    report_client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    monday = last_monday()
    await post(report_client, report_events(monday))
    week = {
        "start_date": monday.isoformat(),
        "end_date": (monday + timedelta(days=6)).isoformat(),
        "tz": "Europe/Paris",
    }
    numbers = await feedback_summary(report_client, **week)
    assert (numbers["ratings"], numbers["thumbs_up"]) == (9, 5)
    response = await report_client.post("/reports/weekly", headers=ADMIN)
    assert response.status_code == 200, response.text
    [received] = smtp.received
    text, html = email_text(received.message)

    paragraph = (
        "9 answers were rated this week: 56% thumbs up (the week before: 50%). "
        "The worst-rated answers:"
    )
    shortened = RETURNS[:119] + "…"
    rows = [
        (PROMO, "2 down, 1 up"),
        (shortened, "1 down, 0 up"),
        ("We ship to Norway.", "1 down, 1 up"),
    ]
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("User feedback:")
    end = lines.index("The daily numbers are attached as CSV.")
    section = [line for line in lines[start + 1 : end] if line]
    assert " ".join(section[:-3]) == paragraph
    assert section[-3:] == [f"{label}: {value}" for label, value in rows]

    assert ">User feedback</h2>" in html
    assert f">{paragraph}</p>" in html
    escaped = "Use &lt;b&gt;promo&lt;/b&gt; &amp; save 10%"
    for label, value in [(escaped, rows[0][1]), *rows[1:]]:
        assert f'<td style="padding:4px 0;">{label}</td><td align="right">{value}</td>' in html
    assert "<b>promo</b>" not in html


async def test_report_section_without_the_week_before_or_the_answer(
    database_url: str,
) -> None:
    monday = last_monday()
    async with client_for(settings_for(database_url)) as http:
        preview = await http.get("/reports/weekly/preview", headers=ADMIN)
        assert "No answers were rated this week." in preview.text
        await post(http, [rating("u1", "ghost", "down", paris(monday, 3, 15))])
        preview = await http.get("/reports/weekly/preview", headers=ADMIN)
        assert preview.status_code == 200, preview.text
    html = preview.text
    paragraph = "1 answer was rated this week: 0% thumbs up. The worst-rated answers:"
    assert f">{paragraph}</p>" in html
    row = '<td style="padding:4px 0;">(answer not stored)</td><td align="right">1 down, 0 up</td>'
    assert row in html
    assert "No answers were rated this week." not in html
