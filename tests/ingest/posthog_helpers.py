"""What the PostHog capture tests share: events as the SDKs build them, posting, reading back."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import ADMIN
from tests.helpers import of_default, stored_events
from tests.ingest.sdk_helpers import stored_row

BASES = ["/batch", "/capture", "/e", "/i/v0/e", "/track"]
PATHS = [path for base in BASES for path in (base, f"{base}/")]
MIB = 1024 * 1024
MAX_BODY = 20 * MIB
OK = {"status": 1}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A client clock far from ours: times the server must move, never store as they are.
CLIENT_TIME = datetime(2001, 2, 3, 4, 5, 6, 789_000, tzinfo=UTC)
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
FIELDS = (
    "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id", "properties",
)  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """A time as posthog-js writes it: milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def ph(
    event: str = "$pageview", distinct_id: Any = "visitor-1", /, **fields: Any
) -> dict[str, Any]:
    """A PostHog event; `fields` are added at its top level (uuid, properties, timestamp...),
    a distinct_id among them replacing the default."""
    return {"event": event, "distinct_id": distinct_id, **fields}


def chat(uuid: str, text: str = "Do you ship to Norway?", **properties: Any) -> dict[str, Any]:
    """A `message` event in session s-1 from visitor-1; `properties` are added."""
    return ph(
        "message",
        uuid=uuid,
        properties={"$session_id": "s-1", "message": text, "role": "user", **properties},
    )


def row(
    event_id: str, event_type: str = "$pageview", *, user_id: str = "visitor-1", **fields: Any
) -> dict[str, Any]:
    """A stored event as `rows` shows it, with the defaults of an event outside any chat."""
    return stored_row(event_id, user_id, event_type, **fields)


def rows(database_url: str) -> list[dict[str, Any]]:
    """Every stored event, in arrival order, without its times and numeric id."""
    return [{name: stored[name] for name in FIELDS} for stored in stored_events(database_url)]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def post(
    client: httpx.AsyncClient,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """`body` (JSON, or raw bytes as they are) to `path`, as an SDK would send it."""
    content = body if isinstance(body, bytes) else dumps(body)
    headers = {"Content-Type": "application/json", **(headers or {})}
    return await client.post(path, content=content, headers=headers, params=params)


def accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == OK


def refused(response: httpx.Response, status: int, code: str, kind: str) -> dict[str, Any]:
    """PostHog's refusal: {type, code, detail} and, for field errors, `errors` whose words are
    the detail; no traceback."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert (body["type"], body["code"]) == (kind, code), body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert set(body) <= {"type", "code", "detail", "errors"}, body
    assert "Traceback" not in response.text
    if "errors" in body:
        words = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}".lstrip(": ")
            for error in body["errors"]
        )
        assert body["detail"] == words
        assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])
    return body


def invalid(response: httpx.Response) -> dict[str, Any]:
    return refused(response, 400, "invalid_payload", "validation_error")


def field_error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


async def history(client: httpx.AsyncClient, user_id: str = "visitor-1") -> dict[str, Any]:
    response = await client.get(f"/users/{user_id}/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def traits(client: httpx.AsyncClient, user_id: str = "visitor-1") -> Any:
    return (await history(client, user_id))["traits"]


async def exported(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every event as GET /analytics/export?format=ndjson gives it, oldest first."""
    response = await client.get("/analytics/export", params={"format": "ndjson"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return of_default([json.loads(line) for line in response.text.splitlines()])


def stored_times(database_url: str) -> list[tuple[datetime, datetime]]:
    """(occurred_at, received_at) of every stored event, in arrival order."""
    return [
        (stored["occurred_at"], stored["received_at"]) for stored in stored_events(database_url)
    ]


def form(document: Any) -> bytes:
    """sendBeacon's body as posthog-js makes it: data=encodeURIComponent(base64(JSON))."""
    return b"data=" + quote(base64.b64encode(dumps(document)).decode(), safe="").encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
