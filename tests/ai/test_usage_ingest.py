"""Model usage of replies: stored as sent through every API, refused naming the field."""

import json
from typing import Any

import httpx
import pytest

from tests.ai.usage_helpers import (
    MAX_LATENCY_MS,
    MAX_TOKENS,
    ONLY_SQLITE,
    USAGE,
    assert_names,
    errors_of,
    post_events,
    posthog_event,
    priced_settings,  # noqa: F401 (the settings fixture, with PRICES)
    reply,
    segment_chat,
    usage_of,
)
from tests.conftest import ADMIN
from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio

# --- ingestion -------------------------------------------------------------------------------


async def test_our_routes_store_usage_as_sent(client: httpx.AsyncClient, database_url: str) -> None:
    one = reply("one", model="gpt-4o", input_tokens=1200, output_tokens=350, latency_ms=812.5)
    response = await client.post("/client/update", json=one)
    assert response.status_code == 200, response.text
    await post_events(
        client,
        reply("limits", model="m" * 256, input_tokens=MAX_TOKENS, latency_ms=MAX_LATENCY_MS),
        reply("zero", input_tokens=0, output_tokens=0, latency_ms=0),
        reply("whole-ms", latency_ms=250),
        reply("fraction", model="claude-3-5-sonnet", latency_ms=0.1),
        reply("bare"),
        reply("nulls", model=None, input_tokens=None, output_tokens=None, latency_ms=None),
        # null is saying nothing: allowed on any event
        event(event_id="question", model=None, input_tokens=None),
        event(event_id="click", event_type="cta_click", cta_id="buy", latency_ms=None),
    )
    assert usage_of(database_url) == {
        "one": ("gpt-4o", 1200, 350, 812.5, None),
        "limits": ("m" * 256, MAX_TOKENS, None, MAX_LATENCY_MS, None),
        "zero": (None, 0, 0, 0, None),
        "whole-ms": (None, None, None, 250, None),
        "fraction": ("claude-3-5-sonnet", None, None, 0.1, None),
        "bare": (None, None, None, None, None),
        "nulls": (None, None, None, None, None),
        "question": (None, None, None, None, None),
        "click": (None, None, None, None, None),
    }


async def test_segment_takes_usage_out_of_assistant_messages_only(
    client: httpx.AsyncClient, database_url: str
) -> None:
    usage = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 350, "latency_ms": 812.5}
    single = segment_chat(1, "assistant", page="/pricing", **usage)
    response = await client.post("/v1/track", json={k: v for k, v in single.items() if k != "type"})
    assert response.status_code == 200, response.text
    rated = {"model": "o1", "latency_ms": 3}
    batch = [
        segment_chat(2, "assistant", model="llama-3", latency_ms=90, input_tokens=None),
        segment_chat(3, "user", model="gpt-4o", input_tokens=5),
        segment_chat(4, "user", "cta_click", cta_id="buy", output_tokens=7),
        segment_chat(5, "assistant", "Reply Rated", **rated),
    ]
    response = await client.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 200, response.text
    assert usage_of(database_url) == {
        "seg-1": ("gpt-4o", 1200, 350, 812.5, {"page": "/pricing"}),
        "seg-2": ("llama-3", None, None, 90, None),
        "seg-3": (None, None, None, None, {"model": "gpt-4o", "input_tokens": 5}),
        "seg-4": (None, None, None, None, {"output_tokens": 7}),
        # not a chat event: even its role stays a property
        "seg-5": (None, None, None, None, {"message": "Hi", "role": "assistant"} | rated),
    }


async def test_posthog_takes_usage_out_of_assistant_messages_only(
    client: httpx.AsyncClient, database_url: str
) -> None:
    usage = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 350, "latency_ms": 812.5}
    answer = {"message": "Hi", "role": "assistant"}
    response = await client.post("/capture", json=posthog_event(1, "message", answer | usage))
    assert response.status_code == 200, response.text
    batch = [
        posthog_event(2, "message", answer | {"output_tokens": 9, "$browser": "Firefox"}),
        posthog_event(3, "message", {"message": "Hi", "model": "gpt-4o", "latency_ms": 1}),
        posthog_event(4, "cta_click", {"cta_id": "buy", "role": "assistant", "input_tokens": 2}),
        posthog_event(5, "$pageview", answer | {"model": "gpt-4o"}),
    ]
    response = await client.post("/batch", json={"api_key": "phc_project", "batch": batch})
    assert response.status_code == 200, response.text
    assert usage_of(database_url) == {
        "ph-1": ("gpt-4o", 1200, 350, 812.5, None),
        "ph-2": (None, None, 9, None, {"$browser": "Firefox"}),
        # a user's message (no role is the user's) and a click keep them as properties
        "ph-3": (None, None, None, None, {"model": "gpt-4o", "latency_ms": 1}),
        "ph-4": (None, None, None, None, {"input_tokens": 2}),
        "ph-5": (None, None, None, None, answer | {"model": "gpt-4o"}),
    }


@ONLY_SQLITE
async def test_ndjson_export_keeps_usage(client: httpx.AsyncClient) -> None:
    usage = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 350, "latency_ms": 812.5}
    await post_events(client, reply("one", **usage))
    params = {"format": "ndjson"}
    response = await client.get("/analytics/export", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    [row] = [json.loads(line) for line in response.text.splitlines()]
    assert {name: row.get(name) for name in USAGE} == usage


BAD_VALUES: list[Any] = [
    ("input_tokens", 1.5, "valid integer"),
    ("input_tokens", 7.0, "valid integer"),  # a float, though a whole one
    ("output_tokens", True, "valid integer"),
    ("input_tokens", "12", "valid integer"),
    ("input_tokens", -1, "greater than or equal to 0"),
    ("output_tokens", MAX_TOKENS + 1, "less than or equal to 1000000000"),
    ("latency_ms", True, "valid number"),
    ("latency_ms", False, "valid number"),
    ("latency_ms", -0.001, "greater than or equal to 0"),
    ("latency_ms", MAX_LATENCY_MS + 0.5, "less than or equal to 86400000"),
    ("latency_ms", [812], "valid number"),
    ("model", "", "at least 1 character"),
    ("model", "m" * 257, "at most 256 characters"),
    ("model", " \t", "should match pattern"),
    ("model", 42, "valid string"),
    ("model", "gpt\x00", "must not contain NUL"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), BAD_VALUES)
async def test_bad_value_is_refused_on_every_route(
    client: httpx.AsyncClient, database_url: str, field: str, value: Any, fragment: str
) -> None:
    bad = reply("bad", **{field: value})
    response = await client.post("/client/update", json=bad)
    assert_names(errors_of(response, 422), ["body", field], fragment)
    response = await client.post("/client/batch", json={"events": [reply("good"), bad]})
    assert_names(errors_of(response, 422), ["body", "events", 1, field], fragment)

    segment = [segment_chat(1, "assistant"), segment_chat(2, "assistant", **{field: value})]
    response = await client.post("/v1/batch", json={"batch": segment})
    assert_names(errors_of(response, 400), ["batch", 1, "properties", field], fragment)
    answer = {"message": "Hi", "role": "assistant"}
    posthog = [
        posthog_event(1, "message", answer),
        posthog_event(2, "message", answer | {field: value}),
    ]
    response = await client.post("/batch", json={"batch": posthog})
    assert_names(errors_of(response, 400), ["batch", 1, "properties", field], fragment)
    assert stored_events(database_url) == []


MISPLACED: list[Any] = [
    ({}, {"model": "gpt-4o"}, "model"),  # no role: the user's
    ({"role": "user"}, {"input_tokens": 5, "output_tokens": 9}, "input_tokens, output_tokens"),
    (
        {"role": "user"},
        {"model": "m", "input_tokens": 1, "output_tokens": 2, "latency_ms": 3},
        "model, input_tokens, output_tokens, latency_ms",
    ),
    ({"event_type": "cta_click", "cta_id": "buy"}, {"input_tokens": 12}, "input_tokens"),
    (
        {"event_type": "cta_click", "role": "assistant"},
        {"latency_ms": 40, "model": None},
        "latency_ms",
    ),
]


@pytest.mark.parametrize(("kind", "usage", "named"), MISPLACED)
async def test_usage_on_anything_but_a_reply_is_refused(
    client: httpx.AsyncClient,
    database_url: str,
    kind: dict[str, Any],
    usage: dict[str, Any],
    named: str,
) -> None:
    bad = event(event_id="bad", **kind, **usage)
    fragment = f"{named}: only an assistant's message"
    response = await client.post("/client/update", json=bad)
    assert_names(errors_of(response, 422), ["body"], fragment)
    response = await client.post("/client/batch", json={"events": [reply("good"), bad]})
    assert_names(errors_of(response, 422), ["body", "events", 1], fragment)
    assert stored_events(database_url) == []


@ONLY_SQLITE
async def test_latency_given_as_text_is_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await client.post("/client/update", json=reply("bad", latency_ms="812.5"))
    assert_names(errors_of(response, 422), ["body", "latency_ms"], "number")
    segment = [segment_chat(1, "assistant", latency_ms="812.5")]
    response = await client.post("/v1/batch", json={"batch": segment})
    assert_names(errors_of(response, 400), ["batch", 0, "properties", "latency_ms"], "number")
    assert stored_events(database_url) == []
