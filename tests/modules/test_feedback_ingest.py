"""The feedback module: ratings ingested through every API, and refused naming the field."""

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.helpers import event, stored_events
from tests.modules.feedback_helpers import (
    ONE_DAY,
    answer,
    at,
    feedback_rows,
    feedback_summary,
    post,
    rating,
)

pytestmark = pytest.mark.anyio

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
    bare = dict(rating("u3", "a1", "up", at(3)))
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
