"""Segment's HTTP Tracking API (/v1/track, /v1/batch ...), over HTTP through the app, on SQLite
and PostgreSQL.

What is accepted is answered `{"success": true}` and read back exactly as stored (the NDJSON
export, the user's history with its traits, the session transcript); what is refused gets
Segment's error body with 400 (every fault of the request), 401 or 403, and nothing of the
request is stored.
"""

import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings, load_settings
from tests.access.helpers import make_key, revoke
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import NO_USAGE, stored_events
from tests.ingest.sdk_helpers import stored_row

pytestmark = pytest.mark.anyio

KB = 1024
CALL_LIMIT = 32 * KB
BATCH_LIMIT = 500 * KB
DAY = "2026-05-04"
SITE = "https://shop.example.com"
GZIP = {"Content-Encoding": "gzip"}
CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden"}
BASIC_CHALLENGE = 'Basic realm="ingestion"'


def at(minute: int) -> str:
    return f"{DAY}T10:{minute:02d}:00Z"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def msg(kind: str, n: int | None = None, *, user: str = "user-1", **fields: Any) -> dict[str, Any]:
    """A batch message of `kind` from `user`; as message `n`, its messageId is m-n and it
    happened at minute n."""
    message: dict[str, Any] = {"type": kind, "userId": user}
    if n is not None:
        message |= {"messageId": f"m-{n}", "timestamp": at(n)}
    return message | fields


def call(message: dict[str, Any]) -> dict[str, Any]:
    """A batch message as a single call's body: without its type, which the path gives."""
    return {key: value for key, value in message.items() if key != "type"}


def track(n: int, event: str = "Clicked", **fields: Any) -> dict[str, Any]:
    return msg("track", n, event=event, **fields)


def chat(event: str, session_id: str, n: int, **properties: Any) -> dict[str, Any]:
    """A track of a chat event (`message`, `cta_click`) in `session_id`, as message `n`."""
    return track(n, event, properties={"session_id": session_id, **properties})


def batch_of(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"batch": list(messages), **fields}


async def post(client: httpx.AsyncClient, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    """`body` (JSON, or raw bytes as they are) posted to `path` as an SDK would."""
    content = body if isinstance(body, bytes) else dumps(body)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return await client.post(path, content=content, headers=headers, **kwargs)


def assert_ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"success": True}


def refused(response: httpx.Response, status: int = 400) -> Any:
    """Segment's error body for `status`, its `message` the detail in words; the detail."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["success", "code", "message", "detail"], body
    assert (body["success"], body["code"]) == (False, CODES[status])
    detail = body["detail"]
    if isinstance(detail, str):
        assert body["message"] == detail
    else:
        assert body["message"] == "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}".lstrip(": ")
            for error in detail
        )
    assert "Traceback" not in response.text
    return detail


def locs(detail: Any) -> list[list[Any]]:
    assert isinstance(detail, list), detail
    return [error["loc"] for error in detail]


def assert_names(detail: Any, loc: list[Any], fragment: str) -> None:
    """The one error in `detail` is at `loc`, its message holding `fragment`."""
    assert locs(detail) == [loc], detail
    assert fragment in detail[0]["msg"], detail


async def export_rows(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every stored event with every field, oldest first, from the NDJSON export."""
    response = await client.get("/analytics/export", params={"format": "ndjson"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def without_received(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key != "received_at"} for row in rows]


async def stored(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The exported events without received_at (when the server got them) and without model
    usage, which none of them has (tests/ai/test_usage.py sends it)."""
    rows = without_received(await export_rows(client))
    for row in rows:
        assert {name: row.pop(name) for name in NO_USAGE} == NO_USAGE
    return rows


async def event_ids(client: httpx.AsyncClient) -> list[str]:
    return [item["event_id"] for item in await export_rows(client)]


async def history(client: httpx.AsyncClient, user_id: str) -> dict[str, Any]:
    response = await client.get(f"/users/{user_id}/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def traits(client: httpx.AsyncClient, user_id: str) -> Any:
    return (await history(client, user_id))["traits"]


async def summary(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(
        "/analytics/summary", params={"start_date": DAY, "end_date": DAY}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def row(
    event_id: str,
    event_type: str,
    properties: dict[str, Any] | None,
    timestamp: str,
    *,
    user_id: str = "user-1",
    **fields: Any,
) -> dict[str, Any]:
    """A stored event as the export and the history show it (received_at left out)."""
    return {
        **stored_row(event_id, user_id, event_type, properties, **fields),
        "timestamp": timestamp,
    }


# A message of each type (its own fields), and its stored event_type and properties.
SAMPLES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "track": (
        {"event": "Order Completed", "properties": {"revenue": 42.5, "currency": "EUR"}},
        "Order Completed",
        {"revenue": 42.5, "currency": "EUR"},
    ),
    "identify": (
        {"traits": {"plan": "pro", "email": "ann@example.com"}},
        "identify",
        {"$set": {"plan": "pro", "email": "ann@example.com"}},
    ),
    "page": (
        {"name": "Pricing", "category": "Docs", "properties": {"path": "/pricing"}},
        "page",
        {"path": "/pricing", "$name": "Pricing", "$category": "Docs"},
    ),
    "screen": ({"name": "Home"}, "screen", {"$name": "Home"}),
    "group": (
        {"groupId": "acme", "traits": {"seats": 5}},
        "group",
        {"$group_id": "acme", "$group_traits": {"seats": 5}},
    ),
    "alias": ({"previousId": "anon-1"}, "alias", {"$previous_id": "anon-1"}),
}
KINDS = list(SAMPLES)


def sample(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    return msg(kind, n, **SAMPLES[kind][0], **fields)


def sample_row(kind: str, n: int) -> dict[str, Any]:
    _, event_type, properties = SAMPLES[kind]
    return row(f"m-{n}", event_type, properties, at(n))


# --- every path -----------------------------------------------------------------------------

SINGLE_PATHS = [(f"/v1/{kind}", kind) for kind in KINDS] + [
    (f"/v1/{kind[0]}", kind) for kind in KINDS
]


@pytest.mark.parametrize(("path", "kind"), SINGLE_PATHS)
async def test_each_single_call_path_stores_its_message(
    client: httpx.AsyncClient, path: str, kind: str
) -> None:
    """Each call path, full name and analytics.js's one letter, stores its type's message."""
    assert_ok(await post(client, path, call(sample(kind, 1))))
    assert await stored(client) == [sample_row(kind, 1)]


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b", "/v1/import"])
async def test_each_batch_path_stores_every_type(client: httpx.AsyncClient, path: str) -> None:
    """/v1/batch, /v1/b and /v1/import store a message of each of the six types."""
    assert_ok(await post(client, path, batch_of(*(sample(k, n) for n, k in enumerate(KINDS)))))
    assert await stored(client) == [sample_row(kind, n) for n, kind in enumerate(KINDS)]


async def test_the_type_of_a_single_call_is_its_path(client: httpx.AsyncClient) -> None:
    """A `type` in a single call's body does not change what its path says it is."""
    assert_ok(await post(client, "/v1/p", {**call(sample("page", 1)), "type": "track"}))
    assert await stored(client) == [sample_row("page", 1)]


# --- how messages map to events -------------------------------------------------------------


async def test_chat_events_take_their_fields_from_properties(client: httpx.AsyncClient) -> None:
    """`message` and `cta_click`: properties session_id, message, role and cta_id become the
    event's fields and leave the properties; the rest stays."""
    batch = batch_of(
        chat("message", "s-1", 1, message="Do you ship to Norway?", page="/faq"),
        chat("message", "s-1", 2, message="We do.", role="assistant"),
        chat("cta_click", "s-1", 3, message="Book a demo", cta_id="demo", page="/faq"),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    expected = [
        row("m-1", "message", {"page": "/faq"}, at(1), session_id="s-1",
            message="Do you ship to Norway?"),
        row("m-2", "message", None, at(2), session_id="s-1", role="assistant", message="We do."),
        row("m-3", "cta_click", {"page": "/faq"}, at(3), session_id="s-1",
            message="Book a demo", cta_id="demo"),
    ]  # fmt: skip
    assert await stored(client) == expected
    response = await client.get("/sessions/s-1", headers=ADMIN)
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["session_id"], page["next_cursor"]) == ("s-1", None)
    assert without_received(page["events"]) == expected
    counts = await summary(client)
    assert (counts["total_messages"], counts["cta_clicks"], counts["sessions"]) == (2, 1, 1)


async def test_a_single_track_of_a_message_is_stored(client: httpx.AsyncClient) -> None:
    """/v1/track takes a chat message on its own; numeric ids are kept as text."""
    body = call(track(5, "message", properties={"session_id": 99, "message": "Hi!"}))
    assert_ok(await post(client, "/v1/track", {**body, "userId": 42, "messageId": 7}))
    assert await stored(client) == [
        row("7", "message", None, at(5), user_id="42", session_id="99", message="Hi!")
    ]


async def test_a_custom_track_is_stored_and_not_counted(client: httpx.AsyncClient) -> None:
    """A custom track ("Order Completed") keeps its name and its properties (those named like
    chat fields included) and shows in the history, but is no message, session or user in the
    summary."""
    order = {"revenue": 99, "message": "not chat", "role": "x"}
    batch = batch_of(
        chat("message", "s-1", 1, message="Hello"),
        track(2, "Order Completed", properties=order),
        track(
            3, "Order Completed", user="shopper", properties={"session_id": "s-2", "cta_id": "b"}
        ),
        msg("page", 4, user="visitor"),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await stored(client) == [
        row("m-1", "message", None, at(1), session_id="s-1", message="Hello"),
        row("m-2", "Order Completed", order, at(2)),
        row("m-3", "Order Completed", {"cta_id": "b"}, at(3), user_id="shopper", session_id="s-2"),
        row("m-4", "page", None, at(4), user_id="visitor"),
    ]
    sessions = (await history(client, "user-1"))["sessions"]
    assert [(s["session_id"], [e["event_type"] for e in s["events"]]) for s in sessions] == [
        ("s-1", ["message"]),
        ("", ["Order Completed"]),
    ]
    counts = await summary(client)
    assert (counts["total_messages"], counts["user_messages"], counts["cta_clicks"]) == (1, 1, 0)
    assert (counts["sessions"], counts["unique_users"], counts["converted_sessions"]) == (1, 1, 0)


async def test_user_id_wins_over_anonymous_id_which_is_kept(client: httpx.AsyncClient) -> None:
    """userId is the user and an anonymousId beside it is kept as `$anonymous_id`; without
    userId (absent, empty or null) the anonymousId is the user."""
    no_user = track(2, "Viewed", anonymousId="anon-8")
    del no_user["userId"]
    batch = batch_of(
        track(1, "Signed Up", user="ann", anonymousId="anon-7", properties={"plan": "pro"}),
        no_user,
        msg("page", 3, user="", anonymousId="anon-9"),
        {**msg("identify", 4, anonymousId="anon-10", traits={"lang": "nb"}), "userId": None},
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await stored(client) == [
        row("m-1", "Signed Up", {"plan": "pro", "$anonymous_id": "anon-7"}, at(1), user_id="ann"),
        row("m-2", "Viewed", None, at(2), user_id="anon-8"),
        row("m-3", "page", None, at(3), user_id="anon-9"),
        row("m-4", "identify", {"$set": {"lang": "nb"}}, at(4), user_id="anon-10"),
    ]
    assert await traits(client, "anon-10") == {"lang": "nb"}


async def test_a_message_id_is_stored_once(client: httpx.AsyncClient) -> None:
    """messageId is the event_id: a retry (on another path, or in a batch) and a repeat within
    one batch are stored once, as first seen, and counted once."""
    first = chat("message", "s-1", 1, message="first")
    assert_ok(await post(client, "/v1/track", call(first)))
    assert_ok(await post(client, "/v1/t", call(first)))
    assert_ok(await post(client, "/v1/batch", batch_of(first)))
    twice = batch_of(
        chat("message", "s-1", 2, message="second"),
        chat("message", "s-1", 2, message="second, again"),
        chat("message", "s-1", 1, message="first, again"),
    )
    assert_ok(await post(client, "/v1/b", twice))
    assert await stored(client) == [
        row("m-1", "message", None, at(1), session_id="s-1", message="first"),
        row("m-2", "message", None, at(2), session_id="s-1", message="second"),
    ]
    assert (await summary(client))["total_messages"] == 2


async def test_a_resent_identify_changes_no_traits(client: httpx.AsyncClient) -> None:
    """An identify re-sent with its messageId is a retry: other traits in it are not applied."""
    identify = call(msg("identify", 1, user="ann", traits={"a": 1}))
    assert_ok(await post(client, "/v1/identify", identify))
    assert_ok(await post(client, "/v1/i", {**identify, "traits": {"a": 2}}))
    assert await traits(client, "ann") == {"a": 1}
    assert await event_ids(client) == ["m-1"]


async def test_context_is_kept_and_the_batch_context_merged(client: httpx.AsyncClient) -> None:
    """`context` is kept as the `$context` property; a batch's context is merged under each
    message's, the message's own keys winning (a shallow merge)."""
    shared = {"library": {"name": "analytics-node", "version": "6"}, "locale": "en-GB"}
    batch = batch_of(
        track(1, "A", context={"locale": "nb-NO", "ip": "203.0.113.9"}),
        track(2, "B", properties={"k": "v"}),
        context=shared,
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert_ok(await post(client, "/v1/track", call(track(3, "C", context={"page": {"p": "/"}}))))
    merged = {**shared, "locale": "nb-NO", "ip": "203.0.113.9"}
    assert await stored(client) == [
        row("m-1", "A", {"$context": merged}, at(1)),
        row("m-2", "B", {"k": "v", "$context": shared}, at(2)),
        row("m-3", "C", {"$context": {"page": {"p": "/"}}}, at(3)),
    ]


async def test_page_screen_group_and_alias_fields_are_properties(
    client: httpx.AsyncClient,
) -> None:
    """name and category, groupId and its traits, previousId become reserved properties
    beside the message's own; absent ones are left out."""
    batch = batch_of(
        msg("page", 1, name="Docs", properties={"url": "https://x.example/docs"}),
        msg("screen", 2, name="Cart", category="Shop"),
        msg("group", 3, groupId="g-1"),
        msg("alias", 4, previousId="anon-1", properties={"why": "signup"}),
        msg("page", 5, name="", category=None),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await stored(client) == [
        row("m-1", "page", {"url": "https://x.example/docs", "$name": "Docs"}, at(1)),
        row("m-2", "screen", {"$name": "Cart", "$category": "Shop"}, at(2)),
        row("m-3", "group", {"$group_id": "g-1", "$group_traits": {}}, at(3)),
        row("m-4", "alias", {"why": "signup", "$previous_id": "anon-1"}, at(4)),
        row("m-5", "page", None, at(5)),
    ]


async def test_events_outside_a_chat_are_in_the_empty_session(client: httpx.AsyncClient) -> None:
    """An event without properties.session_id has the session "", its own group in the
    history; any event with a session_id is in that session."""
    batch = batch_of(
        sample("page", 1),
        chat("message", "s-1", 2, message="Hi"),
        sample("identify", 3),
        track(4, "Order Completed", properties={"session_id": "s-1"}),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    user = await history(client, "user-1")
    assert user["next_cursor"] is None
    sessions = [(s["session_id"], [e["event_id"] for e in s["events"]]) for s in user["sessions"]]
    assert sessions == [("", ["m-1", "m-3"]), ("s-1", ["m-2", "m-4"])]


# --- identify and traits --------------------------------------------------------------------


async def test_identify_traits_are_merged_into_the_profile(client: httpx.AsyncClient) -> None:
    """Each identify's traits are merged into the user's, a later one replacing keys."""
    first = msg("identify", 1, user="ann", traits={"name": "Ann", "plan": "free"})
    assert_ok(await post(client, "/v1/identify", call(first)))
    assert await traits(client, "ann") == {"name": "Ann", "plan": "free"}
    second = msg("identify", 2, user="ann", traits={"plan": "pro", "seats": 3})
    assert_ok(await post(client, "/v1/i", call(second)))
    assert_ok(await post(client, "/v1/i", call(msg("identify", 3, user="ann"))))
    user = await history(client, "ann")
    assert user["traits"] == {"name": "Ann", "plan": "pro", "seats": 3}
    [session] = user["sessions"]
    assert without_received(session["events"]) == [
        row("m-1", "identify", {"$set": {"name": "Ann", "plan": "free"}}, at(1), user_id="ann"),
        row("m-2", "identify", {"$set": {"plan": "pro", "seats": 3}}, at(2), user_id="ann"),
        row("m-3", "identify", None, at(3), user_id="ann"),
    ]


async def test_an_older_identify_sent_later_does_not_override(client: httpx.AsyncClient) -> None:
    """Traits fold in event time order, not arrival order: an identify older than one already
    folded in only adds what the newer did not set; a newer one overrides again."""
    newer = msg("identify", 30, user="ann", traits={"plan": "pro"})
    older = msg("identify", 10, user="ann", traits={"plan": "free", "company": "Acme"})
    assert_ok(await post(client, "/v1/identify", call(newer)))
    assert_ok(await post(client, "/v1/identify", call(older)))
    assert await traits(client, "ann") == {"plan": "pro", "company": "Acme"}
    assert_ok(await post(client, "/v1/identify", call(msg("identify", 20, user="ann"))))
    assert await traits(client, "ann") == {"plan": "pro", "company": "Acme"}
    batch = batch_of(  # in one batch too, the older second
        msg("identify", 50, user="ann", traits={"plan": "enterprise"}),
        msg("identify", 40, user="ann", traits={"plan": "team", "company": "Acme AS"}),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await traits(client, "ann") == {"plan": "enterprise", "company": "Acme AS"}


async def test_erasing_a_user_removes_their_traits(client: httpx.AsyncClient) -> None:
    """DELETE /users/{id} deletes the profile with the events: null traits afterwards."""
    batch = batch_of(
        msg("identify", 1, user="ann", traits={"email": "ann@example.com"}),
        msg("identify", 2, user="bob", traits={"email": "bob@example.com"}),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    erased = await client.delete("/users/ann", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"user_id": "ann", "deleted_events": 1}
    assert (await client.get("/users/ann/history", headers=ADMIN)).status_code == 404
    assert_ok(await post(client, "/v1/track", call(track(3, "Came Back", user="ann"))))
    assert await traits(client, "ann") is None
    assert await traits(client, "bob") == {"email": "bob@example.com"}
    assert "ann@example.com" not in json.dumps(await export_rows(client))


async def test_a_user_without_identify_has_null_traits(client: httpx.AsyncClient) -> None:
    """Traits are null for a user no identify named, while another user has some."""
    batch = batch_of(chat("message", "s-1", 1, message="Hi"), sample("identify", 2, user="eve"))
    assert_ok(await post(client, "/v1/batch", batch))
    assert await traits(client, "user-1") is None
    assert await traits(client, "eve") == {"plan": "pro", "email": "ann@example.com"}


# --- the client's clock ---------------------------------------------------------------------


def times(rows: list[dict[str, Any]]) -> dict[str, tuple[datetime, datetime]]:
    """(timestamp, received_at) of each exported event, by event_id."""
    return {
        item["event_id"]: (
            datetime.fromisoformat(item["timestamp"]),
            datetime.fromisoformat(item["received_at"]),
        )
        for item in rows
    }


@pytest.mark.parametrize(
    "off", [timedelta(hours=1), timedelta(days=3), -timedelta(days=2)], ids=["1h", "3d", "-2d"]
)
async def test_a_client_clock_that_is_off_is_corrected(
    client: httpx.AsyncClient, off: timedelta
) -> None:
    """timestamp = receivedAt - (sentAt - timestamp): an event sent 10 s after it happened by
    a device whose clock is off (by more than the 24 h the future check allows, too) is
    stored 10 s before the server received it."""
    sent_at = datetime.now(UTC) + off
    happened = iso(sent_at - timedelta(seconds=10))
    before = datetime.now(UTC)
    assert_ok(
        await post(client, "/v1/track", call(track(1, timestamp=happened, sentAt=iso(sent_at))))
    )
    after = datetime.now(UTC)
    [(timestamp, received)] = times(await export_rows(client)).values()
    assert before <= received <= after
    assert timestamp == received - timedelta(seconds=10)
    assert abs(timestamp - (before - timedelta(seconds=10))) < timedelta(seconds=2)


async def test_the_batch_sent_at_applies_to_messages_without_their_own(
    client: httpx.AsyncClient,
) -> None:
    """A batch's sentAt corrects its messages (timestamp, else originalTimestamp); a message's
    own sentAt wins; a message with no time at all is stored at the time received."""
    sent_at = datetime.now(UTC) + timedelta(hours=1)
    own = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    batch = batch_of(
        {**track(1), "timestamp": iso(sent_at - timedelta(seconds=10))},
        {**track(2), "timestamp": iso(own), "sentAt": iso(own + timedelta(seconds=5))},
        {**track(3), "timestamp": None},
        {**track(4), "timestamp": None, "originalTimestamp": iso(sent_at - timedelta(seconds=30))},
        sentAt=iso(sent_at),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    stored_times = times(await export_rows(client))
    [received] = {received for _, received in stored_times.values()}
    assert {event_id: timestamp for event_id, (timestamp, _) in stored_times.items()} == {
        "m-1": received - timedelta(seconds=10),
        "m-2": received - timedelta(seconds=5),
        "m-3": received,
        "m-4": received - timedelta(seconds=30),
    }


async def test_without_sent_at_the_timestamp_is_kept(client: httpx.AsyncClient) -> None:
    """No sentAt: timestamp (else originalTimestamp) is stored as sent, in UTC (no offset is
    UTC; nanoseconds, as analytics-go sends, are cut to microseconds); no time at all is the
    time received."""
    batch = batch_of(
        track(1, timestamp="2026-05-04T12:01:02.5+02:00"),
        {**track(2), "timestamp": None, "originalTimestamp": "2026-05-04T10:03:00"},
        track(3, originalTimestamp=at(59)),
        track(4, timestamp="2026-05-04T10:05:00.123456789Z"),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert [(item["event_id"], item["timestamp"]) for item in await stored(client)] == [
        ("m-1", "2026-05-04T10:01:02.500000Z"),
        ("m-2", at(3)),
        ("m-3", at(3)),
        ("m-4", "2026-05-04T10:05:00.123456Z"),
    ]
    assert_ok(await post(client, "/v1/t", {"userId": "u", "event": "Now", "messageId": "now"}))
    [item] = [item for item in await export_rows(client) if item["event_id"] == "now"]
    assert item["timestamp"] == item["received_at"]


# --- write keys -----------------------------------------------------------------------------

Keyed = tuple[httpx.AsyncClient, str]


@pytest.fixture
async def keyed(settings: Settings, database_url: str) -> AsyncIterator[Keyed]:
    """An app whose ingestion needs a write key (made as `keys create` makes it), and the key."""
    key = make_key(database_url, "write").key
    async with client_for(settings) as http:
        yield http, key


WAYS = ["basic", "body", "batch-body"]


async def send_key(client: httpx.AsyncClient, key: str, way: str) -> httpx.Response:
    """One track sent with `key` as the Basic user name, or in the body of a call or a batch."""
    if way == "basic":
        return await post(client, "/v1/track", call(track(1)), auth=(key, ""))
    if way == "body":
        return await post(client, "/v1/track", {**call(track(1)), "writeKey": key})
    return await post(client, "/v1/batch", batch_of(track(1), writeKey=key))


async def test_a_write_key_as_basic_user_name_is_accepted(keyed: Keyed) -> None:
    """Segment's server SDKs send `writeKey:` as HTTP Basic credentials."""
    client, key = keyed
    assert_ok(await send_key(client, key, "basic"))
    assert_ok(await post(client, "/v1/batch", batch_of(track(2)), auth=(key, "")))
    assert await event_ids(client) == ["m-1", "m-2"]


async def test_a_write_key_in_the_body_is_accepted(keyed: Keyed) -> None:
    """analytics.js sends `writeKey` in the body: of a call or a batch, gzipped or not; it is
    not stored."""
    client, key = keyed
    assert_ok(await send_key(client, key, "body"))
    assert_ok(await post(client, "/v1/b", batch_of(track(2), writeKey=key)))
    zipped = gzip.compress(dumps({**call(track(3)), "writeKey": key}))
    assert_ok(await post(client, "/v1/t", zipped, headers=GZIP))
    assert await stored(client) == [row(f"m-{n}", "Clicked", None, at(n)) for n in (1, 2, 3)]


async def test_no_write_key_is_401(keyed: Keyed, database_url: str) -> None:
    """Once a write key exists, a call or batch without one is 401 with Segment's body and a
    Basic challenge; a batch of bad messages too, its contents unjudged."""
    client, _ = keyed
    for path, body in [
        ("/v1/track", call(track(1))),
        ("/v1/batch", batch_of(track(1))),
        ("/v1/batch", batch_of({"type": "nope"})),
    ]:
        response = await post(client, path, body)
        assert refused(response, 401).startswith("a write key is required")
        assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert stored_events(database_url) == []


@pytest.mark.parametrize("way", WAYS)
async def test_a_wrong_write_key_is_401(keyed: Keyed, database_url: str, way: str) -> None:
    response = await send_key(keyed[0], "wk_not-a-real-key", way)
    assert refused(response, 401) == "invalid write key"
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert stored_events(database_url) == []


async def test_a_revoked_write_key_is_401(settings: Settings, database_url: str) -> None:
    key = make_key(database_url, "write").key
    revoke(database_url, key)
    async with client_for(settings) as client:
        for way in WAYS:
            assert refused(await send_key(client, key, way), 401) == "this key was revoked"
    assert stored_events(database_url) == []


@pytest.mark.parametrize("way", WAYS)
async def test_the_admin_key_is_403(keyed: Keyed, database_url: str, way: str) -> None:
    """The admin key opens reading, not ingestion: 403 however it is sent."""
    client, _ = keyed
    detail = refused(await send_key(client, ADMIN_KEY, way), 403)
    assert detail == "this is an admin key; ingestion takes a write key"
    refused(await post(client, "/v1/track", call(track(1)), headers=ADMIN), 403)
    assert stored_events(database_url) == []


# --- compressed bodies ----------------------------------------------------------------------


@cache
def gzip_bomb() -> bytes:
    """10 MB of zeros, gzipped to about 10 KB."""
    return gzip.compress(b"\0" * (10 * 1000 * 1000), compresslevel=9)


async def test_gzip_bodies_are_accepted(client: httpx.AsyncClient) -> None:
    """Content-Encoding gzip (in any case, or x-gzip) on a call and on a batch, of several
    gzip members too; deflate as well."""
    assert_ok(await post(client, "/v1/track", gzip.compress(dumps(call(track(1)))), headers=GZIP))
    batch = dumps(batch_of(track(2), track(3)))
    members = gzip.compress(batch[:20]) + gzip.compress(batch[20:])
    assert_ok(await post(client, "/v1/batch", members, headers=GZIP))
    x_gzip = {"Content-Encoding": "X-GZIP"}
    assert_ok(await post(client, "/v1/t", gzip.compress(dumps(call(track(4)))), headers=x_gzip))
    deflate = {"Content-Encoding": "deflate"}
    assert_ok(await post(client, "/v1/t", zlib.compress(dumps(call(track(5)))), headers=deflate))
    assert await event_ids(client) == [f"m-{n}" for n in range(1, 6)]


def flipped(data: bytes, start: int, end: int) -> bytes:
    return data[:start] + bytes(byte ^ 0x5A for byte in data[start:end]) + data[end:]


ZIPPED = gzip.compress(dumps(call(track(1))))
ENCODING_FAULTS = {
    "not-gzip": (dumps(call(track(1))), GZIP, "not valid gzip data"),
    "corrupt": (b"\x1f\x8b\x08\x00" + b"\xff" * 40, GZIP, "not valid gzip data"),
    "bad-crc": (flipped(ZIPPED, len(ZIPPED) - 8, len(ZIPPED) - 4), GZIP, "not valid gzip data"),
    "truncated": (ZIPPED[: len(ZIPPED) // 2], GZIP, "the gzip body is cut short"),
    "trailer-missing": (ZIPPED[:-4], GZIP, "the gzip body is cut short"),
    "brotli": (dumps(call(track(1))), {"Content-Encoding": "br"}, "'br' is not supported"),
    "compress": (dumps(call(track(1))), {"Content-Encoding": "compress"}, "is not supported"),
}


@pytest.mark.parametrize(
    ("body", "headers", "fragment"), ENCODING_FAULTS.values(), ids=ENCODING_FAULTS
)
async def test_a_bad_encoding_is_400(
    client: httpx.AsyncClient,
    database_url: str,
    body: bytes,
    headers: dict[str, str],
    fragment: str,
) -> None:
    """Corrupt or cut gzip and unsupported encodings: 400 (Segment's code), nothing stored."""
    for path in ("/v1/track", "/v1/batch"):
        detail = refused(await post(client, path, body, headers=headers))
        assert isinstance(detail, str) and fragment in detail, detail
    assert stored_events(database_url) == []


@pytest.mark.parametrize(("path", "limit"), [("/v1/t", CALL_LIMIT), ("/v1/b", BATCH_LIMIT)])
async def test_a_gzip_bomb_is_400_and_quick(
    client: httpx.AsyncClient, database_url: str, path: str, limit: int
) -> None:
    """A small body inflating to 10 MB is refused as soon as it passes the limit."""
    bomb = gzip_bomb()
    assert len(bomb) < 20 * KB
    started = time.monotonic()
    detail = refused(await post(client, path, bomb, headers=GZIP))
    assert time.monotonic() - started < 1.0
    assert detail == f"the body inflates to more than the limit of {limit} bytes"
    assert stored_events(database_url) == []


# --- Segment's limits -----------------------------------------------------------------------


def padded(body: Any, size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = dumps(body)
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


async def test_a_call_over_32_kb_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    """32 KB a call, as sent and once inflated; a call of exactly 32 KB is stored."""
    big = call(track(1, properties={"blob": "x" * (CALL_LIMIT - 200)}))
    for path in ("/v1/track", "/v1/t", "/v1/identify"):
        detail = refused(await post(client, path, padded(big, CALL_LIMIT + 1)))
        assert detail == f"body is {CALL_LIMIT + 1} bytes; the limit is {CALL_LIMIT} bytes"
    zipped = gzip.compress(padded(big, CALL_LIMIT + 1))
    detail = refused(await post(client, "/v1/track", zipped, headers=GZIP))
    assert detail == f"the body inflates to more than the limit of {CALL_LIMIT} bytes"
    assert stored_events(database_url) == []
    assert_ok(await post(client, "/v1/track", padded(big, CALL_LIMIT)))
    assert await event_ids(client) == ["m-1"]


async def test_a_batch_over_500_kb_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    """500 KB a batch; a batch of exactly 500 KB is stored."""
    blob = {"blob": "x" * (30 * KB)}
    batch = batch_of(*(track(n, properties=blob) for n in range(16)))
    detail = refused(await post(client, "/v1/batch", padded(batch, BATCH_LIMIT + 1)))
    assert detail == f"body is {BATCH_LIMIT + 1} bytes; the limit is {BATCH_LIMIT} bytes"
    assert stored_events(database_url) == []
    assert_ok(await post(client, "/v1/import", padded(batch, BATCH_LIMIT)))
    assert len(stored_events(database_url)) == 16


def many(count: int) -> dict[str, Any]:
    return batch_of(
        *(
            chat("message", "s-1", n % 60, message="hi") | {"messageId": f"{n}"}
            for n in range(count)
        )
    )


async def test_2501_messages_are_400_and_2500_are_stored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """2,500 messages a batch, Segment's limit, all stored and counted."""
    too_many = many(2501)
    assert len(dumps(too_many)) < BATCH_LIMIT
    assert refused(await post(client, "/v1/batch", too_many)) == [
        {"loc": ["batch"], "msg": "holds 2501 messages; the limit is 2500", "type": "value_error"}
    ]
    assert stored_events(database_url) == []
    assert_ok(await post(client, "/v1/batch", many(2500)))
    assert sorted(int(item["event_id"]) for item in stored_events(database_url)) == list(
        range(2500)
    )
    assert (await summary(client))["total_messages"] == 2500


async def test_a_message_over_32_kb_in_a_batch_is_400(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A batch may be over 32 KB, a message in it may not (counted in UTF-8): 400 naming it."""
    fine = track(1, properties={"blob": "x" * (CALL_LIMIT - 200)})
    big = track(2, properties={"blob": "é" * (CALL_LIMIT // 2)})
    size = len(dumps(big))
    assert size > CALL_LIMIT
    assert refused(await post(client, "/v1/batch", batch_of(fine, big, fine))) == [
        {"loc": ["batch", 1], "msg": f"is {size} bytes; the limit is 32 KB a message",
         "type": "value_error"}
    ]  # fmt: skip
    assert stored_events(database_url) == []


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


# --- RETENTION_DAYS -------------------------------------------------------------------------


async def test_an_event_older_than_retention_is_400(settings: Settings, database_url: str) -> None:
    """With RETENTION_DAYS=30, an event older than that (it would be deleted at the next run)
    is refused naming it; the time compared is the corrected one."""
    now = datetime.now(UTC)
    ago = {days: iso(now - timedelta(days=days)) for days in (1, 29, 31, 40)}
    async with client_for(settings.model_copy(update={"retention_days": 30})) as client:
        batch = batch_of(track(1, timestamp=ago[1]), track(2, timestamp=ago[31]))
        assert_names(
            refused(await post(client, "/v1/batch", batch)),
            ["batch", 1, "timestamp"],
            "is older than RETENTION_DAYS (30 days), so it would not be kept",
        )
        old_identify = call(msg("identify", None, traits={"a": 1}, timestamp=ago[40]))
        assert_names(
            refused(await post(client, "/v1/identify", old_identify)),
            ["timestamp"],
            "older than RETENTION_DAYS (30 days)",
        )
        assert stored_events(database_url) == []
        # A device whose clock is 40 days behind, sending an event 10 s after it happened.
        late_clock = iso(now - timedelta(days=40) + timedelta(seconds=10))
        assert_ok(await post(client, "/v1/t", call(track(3, timestamp=ago[40], sentAt=late_clock))))
        assert_ok(await post(client, "/v1/batch", batch_of(track(4, timestamp=ago[29]))))
        assert sorted(item["event_id"] for item in stored_events(database_url)) == ["m-3", "m-4"]


# --- CORS -----------------------------------------------------------------------------------


@pytest.fixture
async def cors_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        _env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY, cors_origins=SITE
    )
    async with client_for(settings) as http:
        yield http


@pytest.mark.parametrize("path", ["/v1/t", "/v1/batch"])
async def test_a_page_on_cors_origins_may_call_segment_paths(
    cors_client: httpx.AsyncClient, database_url: str, path: str
) -> None:
    """analytics.js on a CORS_ORIGINS page: the preflight allows POST with Content-Type and
    Authorization (the write key); another origin's fails; the page may read the answer."""
    preflight = {
        "Origin": SITE,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    response = await cors_client.options(path, headers=preflight)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = set(response.headers["access-control-allow-headers"].lower().split(", "))
    assert {"content-type", "authorization", "content-encoding"} <= allowed
    other = await cors_client.options(path, headers={**preflight, "Origin": "https://evil.test"})
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    body = call(track(1)) if path == "/v1/t" else batch_of(track(1))
    posted = await post(cors_client, path, body, headers={"Origin": SITE})
    assert_ok(posted)
    assert posted.headers["access-control-allow-origin"] == SITE
    assert [item["event_id"] for item in stored_events(database_url)] == ["m-1"]


# --- bugs -----------------------------------------------------------------------------------


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


async def test_retention_names_original_timestamp_when_that_was_sent(settings: Settings) -> None:
    old = iso(datetime.now(UTC) - timedelta(days=40))
    async with client_for(settings.model_copy(update={"retention_days": 30})) as client:
        batch = batch_of({**track(1), "timestamp": None, "originalTimestamp": old})
        detail = refused(await post(client, "/v1/batch", batch))
        assert_names(detail, ["batch", 0, "originalTimestamp"], "RETENTION_DAYS")


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
