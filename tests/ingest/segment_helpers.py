"""What the Segment tracking API tests share: messages as SDKs build them, posting, reading back."""

import json
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import ADMIN
from tests.helpers import NO_USAGE, of_default
from tests.ingest.sdk_helpers import stored_row

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
    return of_default([json.loads(line) for line in response.text.splitlines()])


def without_received(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key != "received_at"} for row in rows]


async def stored(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The exported events without received_at (when the server got them) and without model
    usage, which none of them has (tests/ai/test_usage_ingest.py sends it)."""
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
