"""Segment's tracking API: bad messages and bodies refused (400) naming the field, none stored."""

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.helpers import stored_events
from tests.ingest.segment_helpers import (
    assert_names,
    at,
    batch_of,
    call,
    chat,
    locs,
    msg,
    post,
    refused,
    sample,
    track,
)

pytestmark = pytest.mark.anyio

# --- validation -----------------------------------------------------------------------------

NUL = "must not contain NUL"
ISO = "ISO 8601"
MESSAGE_FAULTS: list[Any] = [  # kind, the message, where the fault is named, the reason
    ("track", {"event": "Signed Up"}, ["userId"], "userId or anonymousId is required"),
    ("track", {"userId": "", "anonymousId": "", "event": "x"}, ["userId"], "is required"),
    ("identify", {"userId": None, "traits": {}}, ["userId"], "is required"),
    ("track", {"userId": "   ", "event": "x"}, ["userId"], "should match pattern"),
    ("track", {"userId": "u" * 257, "event": "x"}, ["userId"], "at most 256"),
    ("track", {"anonymousId": "a\x00", "event": "x"}, ["anonymousId"], NUL),
    ("track", {"userId": "u"}, ["event"], "is required for track"),
    ("track", {"userId": "u", "event": ""}, ["event"], "is required for track"),
    ("track", {"userId": "u", "event": 5}, ["event"], "valid string"),
    ("group", {"userId": "u"}, ["groupId"], "is required for group"),
    ("alias", {"userId": "u"}, ["previousId"], "is required for alias"),
    ("track", {"userId": "u", "event": "x", "messageId": ""}, ["messageId"], "at least 1"),
    ("track", {"userId": "u", "event": "message", "properties": {"message": "Hi"}},
     ["properties", "session_id"], "is required for 'message'"),
    ("track", {"userId": "u", "event": "cta_click", "properties": {"cta_id": "c"}},
     ["properties", "session_id"], "is required for 'cta_click'"),
    ("track", {"userId": "u", "event": "message", "properties": {"session_id": "s"}},
     ["properties", "message"], "is required for 'message'"),
    ("track", {"userId": "u", "event": "message",
               "properties": {"session_id": "s", "message": "Hi", "role": "bot"}},
     ["properties", "role"], "'user' or 'assistant'"),
    ("track", {"userId": "u", "event": "message",
               "properties": {"session_id": "s", "message": "a\x00"}},
     ["properties", "message"], NUL),
    ("track", {"userId": "u", "event": "x", "properties": {"note": "a\x00b"}},
     ["properties"], NUL),
    ("track", {"userId": "u", "event": "x", "properties": {"k\x00": 1}}, ["properties"], NUL),
    ("track", {"userId": "u", "event": "x", "properties": ["a"]}, ["properties"], "JSON object"),
    ("page", {"userId": "u", "context": "web"}, ["context"], "must be a JSON object"),
    ("track", {"userId": "u", "event": "x", "timestamp": "yesterday"}, ["timestamp"], ISO),
    ("track", {"userId": "u", "event": "x", "timestamp": 1777000000}, ["timestamp"], ISO),
    ("track", {"userId": "u", "event": "x", "timestamp": "2026-02-30T00:00:00Z"},
     ["timestamp"], "day value is outside"),
    ("track", {"userId": "u", "event": "x", "timestamp": "2099-01-01T00:00:00Z"},
     ["timestamp"], "more than 24 hours in the future"),
    ("track", {"userId": "u", "event": "x", "originalTimestamp": "now"},
     ["originalTimestamp"], ISO),
    ("track", {"userId": "u", "event": "x", "timestamp": at(1), "sentAt": "later"},
     ["sentAt"], ISO),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "message", "loc", "fragment"),
    MESSAGE_FAULTS,
    ids=[f"{n}-{'.'.join(loc)}" for n, (_, _, loc, _) in enumerate(MESSAGE_FAULTS)],
)
async def test_a_bad_message_is_400_naming_the_field(
    client: httpx.AsyncClient,
    database_url: str,
    kind: str,
    message: dict[str, Any],
    loc: list[Any],
    fragment: str,
) -> None:
    """A bad message alone, and second in a batch behind a good one: 400 naming the field as
    the SDK sent it (batch.1.…), nothing stored."""
    assert_names(refused(await post(client, f"/v1/{kind}", message)), loc, fragment)
    batch = batch_of(sample("page", 1), {"type": kind, **message})
    assert_names(refused(await post(client, "/v1/batch", batch)), ["batch", 1, *loc], fragment)
    assert stored_events(database_url) == []


async def test_a_bad_type_in_a_batch_is_400_naming_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A batch message's type must be one of Segment's six; a message must be an object."""
    batch = batch_of(track(1), {**track(2), "type": "Track"}, call(track(3)), "track")
    expected = "must be one of track, identify, page, screen, group, alias"
    assert refused(await post(client, "/v1/batch", batch)) == [
        {"loc": ["batch", 1, "type"], "msg": expected, "type": "value_error"},
        {"loc": ["batch", 2, "type"], "msg": expected, "type": "value_error"},
        {"loc": ["batch", 3], "msg": "must be a JSON object (a message)", "type": "value_error"},
    ]
    assert stored_events(database_url) == []


async def test_a_batch_with_bad_messages_stores_none_and_names_each(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """All or none: one answer naming every bad message, and no message of the batch stored."""
    batch = batch_of(
        chat("message", "s-1", 0, message="fine"),
        {"type": "track", "event": "no user"},
        sample("identify", 2),
        chat("message", "", 3, message="no session"),
        {"type": "group", "userId": "u"},
        track(5, timestamp="soon"),
        sample("page", 6),
    )
    response = await post(client, "/v1/batch", batch)
    assert locs(refused(response)) == [
        ["batch", 1, "userId"],
        ["batch", 3, "properties", "session_id"],
        ["batch", 4, "groupId"],
        ["batch", 5, "timestamp"],
    ]
    assert response.json()["message"] == (
        "batch.1.userId: userId or anonymousId is required; "
        "batch.3.properties.session_id: is required for 'message'; "
        "batch.4.groupId: is required for group; "
        "batch.5.timestamp: must be an ISO 8601 date-time string, e.g. 2026-11-24T10:15:00Z"
    )
    assert stored_events(database_url) == []
    assert (await client.get("/users/user-1/history", headers=ADMIN)).status_code == 404


NOT_JSON = {
    "empty": b"",
    "blank": b" \n",
    "text": b"hello",
    "open-brace": b"{",
    "trailing-comma": b'{"userId":"u","event":"x",}',
    "single-quotes": b"{'userId':'u'}",
    "nan": b'{"userId":"u","event":"x","properties":{"n":NaN}}',
    "two-objects": b'{"userId":"u"}{"userId":"v"}',
    "invalid-utf8": b'{"userId":"\xff","event":"x"}',
    "lone-surrogate": b'{"userId":"u","event":"x","properties":{"a":"\\ud800"}}',
    "form": b"userId=u&event=x",
}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON)
async def test_a_body_that_is_not_json_is_400(
    client: httpx.AsyncClient, database_url: str, body: bytes
) -> None:
    for path in ("/v1/track", "/v1/identify", "/v1/batch"):
        detail = refused(await post(client, path, body))
        assert isinstance(detail, str), detail
        assert detail.startswith(("request body is not valid JSON", "request body is empty"))
    assert stored_events(database_url) == []


NOT_OBJECTS = [b"[]", b'[{"userId":"u","event":"x"}]', b'"track"', b"null", b"1", b"true"]


@pytest.mark.parametrize("body", NOT_OBJECTS)
async def test_json_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, database_url: str, body: bytes
) -> None:
    for path in ("/v1/track", "/v1/batch"):
        assert refused(await post(client, path, body)) == [
            {"loc": [], "msg": "the body must be a JSON object", "type": "value_error"}
        ]
    assert stored_events(database_url) == []


BATCH_SHAPES = {
    "no-batch": {},
    "empty": {"batch": []},
    "null": {"batch": None},
    "object": {"batch": {"type": "track"}},
    "text": {"batch": "x"},
    "other-name": {"messages": [sample("page", 1)]},
}


@pytest.mark.parametrize("body", BATCH_SHAPES.values(), ids=BATCH_SHAPES)
async def test_a_batch_without_a_list_of_messages_is_400(
    client: httpx.AsyncClient, database_url: str, body: dict[str, Any]
) -> None:
    assert refused(await post(client, "/v1/batch", body)) == [
        {"loc": ["batch"], "msg": "must be a non-empty list of messages", "type": "value_error"}
    ]
    assert stored_events(database_url) == []


@pytest.mark.parametrize(
    ("kind", "message", "loc"),
    [
        ("identify", {"userId": "u", "traits": {"name": "a\x00"}}, ["traits"]),
        ("track", {"userId": "u", "event": "x", "context": {"ip": "\x00"}}, ["context"]),
        ("track", {"userId": "u", "anonymousId": "a\x00", "event": "x"}, ["anonymousId"]),
        ("group", {"userId": "u", "groupId": "g\x00"}, ["groupId"]),
        ("alias", {"userId": "u", "previousId": "p\x00"}, ["previousId"]),
        ("page", {"userId": "u", "name": "n\x00"}, ["name"]),
    ],
    ids=["traits", "context", "anonymousId", "groupId", "previousId", "name"],
)
async def test_a_nul_outside_properties_is_named_where_it_was_sent(
    client: httpx.AsyncClient, kind: str, message: dict[str, Any], loc: list[str]
) -> None:
    assert_names(refused(await post(client, f"/v1/{kind}", message)), loc, NUL)


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/v1/batch", batch_of(track(1), context="web"), ["context"]),
        ("/v1/identify", call(msg("identify", 1, traits="pro")), ["traits"]),
        ("/v1/group", call(msg("group", 1, groupId="g", traits=["a"])), ["traits"]),
    ],
    ids=["batch-context", "identify-traits", "group-traits"],
)
async def test_a_context_or_traits_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, database_url: str, path: str, body: Any, loc: list[str]
) -> None:
    assert_names(refused(await post(client, path, body)), loc, "must be a JSON object")
    assert stored_events(database_url) == []
