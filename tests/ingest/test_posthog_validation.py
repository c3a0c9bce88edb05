"""PostHog capture: refusals in PostHog's {type, code, detail, errors}, nothing of them stored."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.conftest import client_for
from tests.helpers import stored_events
from tests.ingest.posthog_helpers import (
    accepted,
    chat,
    dumps,
    field_error,
    invalid,
    iso,
    ph,
    post,
    row,
    rows,
)

pytestmark = pytest.mark.anyio

# --- validation ------------------------------------------------------------------------------


async def test_missing_distinct_id_is_400_naming_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    cases: list[tuple[Any, list[Any]]] = [
        ({"event": "$pageview"}, ["distinct_id"]),
        (ph(distinct_id=""), ["distinct_id"]),
        (ph(distinct_id=None, properties={"distinct_id": ""}), ["distinct_id"]),
        ([ph(), {"event": "x", "properties": {}}], [1, "distinct_id"]),
        ({"api_key": "k", "batch": [ph(), ph(), {"event": "x"}]}, ["batch", 2, "distinct_id"]),
    ]
    for body, loc in cases:
        response = await post(client, "/capture", body)
        assert invalid(response) == {
            "type": "validation_error",
            "code": "invalid_payload",
            "detail": f"{'.'.join(str(part) for part in loc)}: is required",
            "errors": [field_error(loc, "is required")],
        }
    assert stored_events(database_url) == []


async def test_missing_event_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    cases: list[tuple[Any, list[Any]]] = [
        ({"distinct_id": "u"}, ["event"]),
        (ph(""), ["event"]),
        ({"batch": [ph(), {"distinct_id": "u", "event": None}]}, ["batch", 1, "event"]),
    ]
    for body, loc in cases:
        assert invalid(await post(client, "/batch", body))["errors"] == [
            field_error(loc, "is required")
        ]
    assert stored_events(database_url) == []


async def test_chat_event_without_its_fields_is_400(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A message needs its text and a session; a CTA click needs a session: each refusal names
    the property as the SDK sends it."""
    cases = [
        (
            ph("message", properties={"$session_id": "s-1"}),
            [field_error(["properties", "message"], "is required for 'message'")],
        ),
        (
            ph("message", properties={"message": "Hi"}),
            [field_error(["properties", "$session_id"], "is required for 'message'")],
        ),
        (
            ph("message", properties={"message": "Hi", "$session_id": ""}),
            [field_error(["properties", "$session_id"], "is required for 'message'")],
        ),
        (
            ph("message", properties={"message": "Hi", "session_id": ""}),
            [field_error(["properties", "session_id"], "is required for 'message'")],
        ),
        (
            ph("message"),
            [
                field_error(["properties", "$session_id"], "is required for 'message'"),
                field_error(["properties", "message"], "is required for 'message'"),
            ],
        ),
        (
            ph("cta_click", properties={"cta_id": "buy"}),
            [field_error(["properties", "$session_id"], "is required for 'cta_click'")],
        ),
        (
            chat("m", "   "),
            [
                field_error(
                    ["properties", "message"],
                    "must not be empty for event_type 'message'",
                )
            ],
        ),
    ]
    for event, errors in cases:
        assert invalid(await post(client, "/capture", event))["errors"] == errors, event
    role = invalid(await post(client, "/capture", chat("m", role="bot")))
    assert [error["loc"] for error in role["errors"]] == [["properties", "role"]]
    assert stored_events(database_url) == []


async def test_bad_values_are_400_naming_the_sdk_field(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """NUL characters, ids that are too long or not text, properties that are not an object:
    each refused, naming the field where the SDK put it."""
    nul = "must not contain NUL (\\u0000) characters"
    long_id = "x" * 257
    too_long = "String should have at most 256 characters"
    cases = [
        (ph(properties={"k": "a\x00b"}), ["properties"], nul),
        (ph(properties={"k\x00": 1}), ["properties"], nul),
        (ph(properties={"a": [{"b": "\x00"}]}), ["properties"], nul),
        (chat("m", "hi\x00"), ["properties", "message"], nul),
        (
            chat("m", "x" * 32_769),
            ["properties", "message"],
            "is 32769 bytes; the limit is 32768 bytes (32 KiB)",
        ),
        (ph(distinct_id="   "), ["distinct_id"], "String should match pattern '\\S'"),
        (ph(distinct_id="ana\x00"), ["distinct_id"], nul),
        (ph(distinct_id=long_id), ["distinct_id"], too_long),
        (
            {"event": "x", "properties": {"distinct_id": long_id}},
            ["properties", "distinct_id"],
            too_long,
        ),
        (ph("e" * 257), ["event"], too_long),
        (ph(uuid=long_id), ["uuid"], too_long),
        (
            ph(properties={"$session_id": long_id}),
            ["properties", "$session_id"],
            "String should have at most 256 characters",
        ),
        (ph(distinct_id=1.5), ["distinct_id"], "Input should be a valid string"),
        (ph(distinct_id={"id": 1}), ["distinct_id"], "Input should be a valid string"),
        (ph(properties=["a"]), ["properties"], "must be a JSON object"),
        (ph(properties="a=1"), ["properties"], "must be a JSON object"),
    ]
    for event, loc, msg in cases:
        errors = invalid(await post(client, "/capture", {"batch": [ph(), event]}))["errors"]
        named = [(error["loc"], error["msg"]) for error in errors]
        assert named == [(["batch", 1, *loc], msg)], event
    assert stored_events(database_url) == []


async def test_bodies_that_are_not_events_are_400(
    client: httpx.AsyncClient, database_url: str
) -> None:
    not_json = [b"", b"  \n", b"nope", b"{", dumps([ph()])[:-1], b"[1,]", b'{"event":NaN}']
    for body in not_json:
        refusal = invalid(await post(client, "/e", body))
        assert refusal["detail"].startswith(
            ("request body is not valid JSON", "request body is empty")
        ), body
        assert "errors" not in refusal
    shape = "the body must be an event, a list of events or {batch: [...]}"
    cases = [
        (b"42", [field_error([], shape)]),
        (b"null", [field_error([], shape)]),
        (b'"event"', [field_error([], shape)]),
        (b"[]", [field_error([], "the body holds no events")]),
        (b'{"batch":[]}', [field_error([], "the body holds no events")]),
        (b'{"batch":{}}', [field_error(["batch"], "must be a list of events")]),
        (b'{"batch":null}', [field_error(["batch"], "must be a list of events")]),
        (
            dumps([ph(), 7, [ph()]]),
            [
                field_error([1], "must be a JSON object (an event)"),
                field_error([2], "must be a JSON object (an event)"),
            ],
        ),
    ]
    for body, errors in cases:
        assert invalid(await post(client, "/e", body))["errors"] == errors, body
    assert stored_events(database_url) == []


async def test_one_bad_event_refuses_the_whole_batch(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Every bad event is named (batch.N for a batch, N for a list) and nothing is stored."""
    batch = [chat("a"), ph(uuid="b"), ph("message", uuid="c"), ph(uuid="d"), {"event": "e"}]
    refusal = invalid(await post(client, "/batch", {"api_key": "k", "batch": batch}))
    assert refusal["errors"] == [
        field_error(["batch", 2, "properties", "$session_id"], "is required for 'message'"),
        field_error(["batch", 2, "properties", "message"], "is required for 'message'"),
        field_error(["batch", 4, "distinct_id"], "is required"),
    ]
    assert refusal["detail"] == (
        "batch.2.properties.$session_id: is required for 'message'; "
        "batch.2.properties.message: is required for 'message'; "
        "batch.4.distinct_id: is required"
    )
    listed = invalid(await post(client, "/e", [ph(uuid="ok"), ph(uuid="bad", distinct_id="")]))
    assert listed["detail"] == "1.distinct_id: is required"
    assert stored_events(database_url) == []
    accepted(await post(client, "/batch", {"batch": batch[:2]}))
    assert [stored["event_id"] for stored in stored_events(database_url)] == ["a", "b"]


async def test_retention_days_refuses_older_events(settings: Settings, database_url: str) -> None:
    """With RETENTION_DAYS=30, an event from 31 days ago is refused (it would be deleted at
    the next run), naming its timestamp, and its batch is not stored; 29 days ago is kept."""
    now = datetime.now(UTC)
    async with client_for(settings.model_copy(update={"retention_days": 30})) as client:
        batch = [
            ph(uuid="recent", timestamp=iso(now - timedelta(days=29))),
            ph(uuid="old", timestamp=iso(now - timedelta(days=31))),
        ]
        refusal = invalid(await post(client, "/batch", {"batch": batch}))
        assert refusal["errors"] == [
            field_error(
                ["batch", 1, "timestamp"],
                "is older than RETENTION_DAYS (30 days), so it would not be kept",
            )
        ]
        offset = invalid(await post(client, "/e", [ph(uuid="o", offset=31 * 86_400_000)]))
        assert offset["errors"] == [
            field_error(
                [0, "offset"], "is older than RETENTION_DAYS (30 days), so it would not be kept"
            )
        ]
        assert stored_events(database_url) == []
        accepted(await post(client, "/batch", {"batch": batch[:1]}))
    assert rows(database_url) == [row("recent")]
