"""GET /users/{user_id}/history and GET /sessions/{session_id}, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plugin_analytics.app import create_app
from plugin_analytics.config import load_settings
from tests.conftest import ADMIN, started
from tests.helpers import event, stored_events

pytestmark = pytest.mark.anyio

ROUTES = ["/users/user-1/history", "/sessions/session-1"]


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    """Post each event on its own, in the order given, so row ids follow that order."""
    for body in events:
        response = await client.post("/client/update", json=body)
        assert response.status_code == 200, response.text


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers=ADMIN)


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in events]


def at(minute: int) -> str:
    return f"2026-05-04T10:{minute:02d}:00Z"


async def test_session_is_in_event_time_order_not_arrival_order(
    client: httpx.AsyncClient,
) -> None:
    await post(
        client,
        event(event_id="reply", role="assistant", message="We do.", timestamp=at(2)),
        event(
            event_id="click",
            event_type="cta_click",
            message="Book",
            cta_id="book",
            timestamp=at(3),
            properties={"page": "/pricing"},
        ),
        # 12:01 at +02:00 is 10:01 UTC: first, though its local time reads latest.
        event(event_id="question", message="Do you ship?", timestamp="2026-05-04T12:01:00+02:00"),
    )
    response = await get(client, "/sessions/session-1")
    assert response.status_code == 200
    page = response.json()
    assert (page["session_id"], page["next_cursor"]) == ("session-1", None)
    events = page["events"]
    for item in events:
        received_at = datetime.fromisoformat(item.pop("received_at"))
        assert abs(received_at - datetime.now(UTC)) < timedelta(minutes=1)
    common = {"user_id": "user-1", "session_id": "session-1"}
    assert events == [
        {**common, "event_id": "question", "event_type": "message", "role": "user",
         "message": "Do you ship?", "cta_id": None, "properties": None,
         "timestamp": "2026-05-04T10:01:00Z"},
        {**common, "event_id": "reply", "event_type": "message", "role": "assistant",
         "message": "We do.", "cta_id": None, "properties": None,
         "timestamp": "2026-05-04T10:02:00Z"},
        {**common, "event_id": "click", "event_type": "cta_click", "role": "user",
         "message": "Book", "cta_id": "book", "properties": {"page": "/pricing"},
         "timestamp": "2026-05-04T10:03:00Z"},
    ]  # fmt: skip


async def test_user_history_groups_events_by_session(client: httpx.AsyncClient) -> None:
    await post(
        client,
        event(event_id="b2", session_id="s-b", event_type="cta_click", cta_id="x", timestamp=at(4)),
        event(event_id="a2", session_id="s-a", role="assistant", timestamp=at(3)),
        event(event_id="b1", session_id="s-b", timestamp=at(2)),
        event(event_id="a1", session_id="s-a", timestamp=at(1)),
    )
    response = await get(client, "/users/user-1/history")
    assert response.status_code == 200
    history = response.json()
    assert (history["user_id"], history["next_cursor"]) == ("user-1", None)
    grouped = [(s["session_id"], ids(s["events"])) for s in history["sessions"]]
    assert grouped == [("s-a", ["a1", "a2"]), ("s-b", ["b1", "b2"])]
    roles = [(e["role"], e["event_type"]) for s in history["sessions"] for e in s["events"]]
    assert roles == [("user", "message"), ("assistant", "message"), ("user", "message"),
                     ("user", "cta_click")]  # fmt: skip


async def test_one_users_history_never_shows_another_users_events(
    client: httpx.AsyncClient,
) -> None:
    users = ["user-1", "user-10", "USER-1", "josé@example.com"]
    await post(
        client,
        *[event(event_id=f"{u}-own", user_id=u, session_id=f"{u}-s", timestamp=at(i))
          for i, u in enumerate(users)],
        # The same session id reused by two users: each history keeps only its own events.
        *[event(event_id=f"{u}-shared", user_id=u, session_id="shared", timestamp=at(9 - i))
          for i, u in enumerate(users)],
    )  # fmt: skip
    for user in users:
        response = await get(client, f"/users/{user}/history")
        assert response.status_code == 200
        history = response.json()
        assert history["user_id"] == user
        grouped = [(s["session_id"], ids(s["events"])) for s in history["sessions"]]
        assert grouped == [(f"{user}-s", [f"{user}-own"]), ("shared", [f"{user}-shared"])]
        events = [e for s in history["sessions"] for e in s["events"]]
        assert {e["user_id"] for e in events} == {user}


async def walk(client: httpx.AsyncClient, path: str, limit: int) -> list[list[str]]:
    """Every page's event ids, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await get(client, path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        events = (
            body["events"]
            if "events" in body
            else [e for s in body["sessions"] for e in s["events"]]
        )
        pages.append(ids(events))
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


@pytest.mark.parametrize("count", [6, 7])
@pytest.mark.parametrize("path", ROUTES)
async def test_cursor_walks_every_event_once_in_order(
    client: httpx.AsyncClient, path: str, count: int
) -> None:
    expected = [f"e{minute}" for minute in range(count)]
    # Posted newest first, so arrival order is the reverse of event-time order.
    await post(client, *[event(event_id=f"e{m}", timestamp=at(m)) for m in reversed(range(count))])
    pages = await walk(client, path, limit=2)
    assert pages == [expected[i : i + 2] for i in range(0, count, 2)]


@pytest.mark.parametrize("path", ROUTES)
async def test_identical_timestamps_paginate_by_arrival(
    client: httpx.AsyncClient, database_url: str, path: str
) -> None:
    same = "2026-05-04T10:00:00.123456Z"
    tied = ["tie-c", "tie-a", "tie-e", "tie-b", "tie-d"]
    await post(
        client,
        event(event_id="last", timestamp="2026-05-04T10:00:00.123457Z"),
        *[event(event_id=name, timestamp=same) for name in tied],
        event(event_id="first", timestamp="2026-05-04T10:00:00.123455Z"),
    )
    assert [row["event_id"] for row in stored_events(database_url)] == ["last", *tied, "first"]
    pages = await walk(client, path, limit=2)
    assert pages == [["first", "tie-c"], ["tie-a", "tie-e"], ["tie-b", "tie-d"], ["last"]]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/users/nobody/history", "no events for user 'nobody'"),
        ("/sessions/no-such-session", "no events for session 'no-such-session'"),
    ],
)
async def test_unknown_user_or_session_is_404(
    client: httpx.AsyncClient, path: str, detail: str
) -> None:
    await post(client, event())
    response = await get(client, path)
    assert response.status_code == 404
    assert response.json() == {"detail": detail}


GARBAGE_CURSORS = [
    "garbage",
    "!!!!",
    "",
    "1767225600000000",
    "1767225600000000.",
    ".5",
    "1767225600000000.5.5",
    "1767225600000000.x",
    "1767225600000000.0",  # ids start at 1
    "1767225600000000.-5",
    "1,5",
    # Well-formed but never issued: each would fail inside the database, not as a 400.
    "1767225600000000.9223372036854775808",  # 2**63
    "-62135596800000001.1",  # before year 1
    "253402300800000000.1",  # after year 9999
    "99999999999999999999.1",
]


@pytest.mark.parametrize("path", ROUTES)
async def test_garbage_cursor_is_400(client: httpx.AsyncClient, path: str) -> None:
    await post(client, event())
    for cursor in GARBAGE_CURSORS:
        response = await get(client, path, cursor=cursor)
        assert response.status_code == 400, cursor
        assert response.json() == {"detail": "cursor is not one this API returned"}
    response = await get(client, path, cursor="1" * 65)
    assert response.status_code == 422


@pytest.mark.parametrize("path", ROUTES)
async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, path: str) -> None:
    await post(client, event())
    for limit in (0, -1, 1001, "ten"):
        response = await get(client, path, limit=limit)
        assert response.status_code == 422, limit
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", "limit"]
    assert (await get(client, path, limit=1000)).status_code == 200
    assert (await get(client, path, limit=1)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing Authorization: Bearer <ADMIN_API_KEY> header"),
        ({"Authorization": "Bearer wrong-key"}, "invalid admin key"),
        ({"Authorization": "Bearer test-admin-key-and-more"}, "invalid admin key"),
        ({"Authorization": "Basic dGVzdC1hZG1pbi1rZXk6"}, "missing"),
    ],
)
@pytest.mark.parametrize("path", ROUTES)
async def test_reading_needs_the_admin_key(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], detail: str
) -> None:
    await post(client, event())
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert detail in response.json()["detail"]
    assert (await client.get(path, headers=ADMIN)).status_code == 200


async def test_reading_is_refused_when_no_admin_key_is_configured(database_url: str) -> None:
    settings = load_settings(_env_file=None, database_url=database_url, admin_api_key=None)
    app = create_app(settings)
    async with started(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await post(client, event())
            for path in ROUTES:
                for headers in ({}, ADMIN, {"Authorization": "Bearer "}):
                    response = await client.get(path, headers=headers)
                    assert response.status_code == 503
                    assert "ADMIN_API_KEY is not set" in response.json()["detail"]


async def test_ids_with_slashes_and_spaces_read_back(client: httpx.AsyncClient) -> None:
    await post(client, event(user_id="acme/visitor 7", session_id="chat/2026/01"))
    user = await get(client, "/users/acme%2Fvisitor%207/history")
    assert user.status_code == 200, user.text
    assert user.json()["user_id"] == "acme/visitor 7"
    session = await get(client, "/sessions/chat/2026/01")
    assert session.status_code == 200
    assert [e["user_id"] for e in session.json()["events"]] == ["acme/visitor 7"]


@pytest.mark.parametrize("path", ["/users/a%00b/history", "/sessions/a%00b"])
async def test_nul_in_a_path_id_is_422(client: httpx.AsyncClient, path: str) -> None:
    response = await get(client, path)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "path"
