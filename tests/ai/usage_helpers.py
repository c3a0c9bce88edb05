"""What the model-usage tests share: settings with PRICES, replies, posting, GET /analytics/ai."""

from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings, load_settings
from tests.conftest import ADMIN, ADMIN_KEY
from tests.helpers import event, stored_events

DAY = "2026-05-04"
USAGE = ("model", "input_tokens", "output_tokens", "latency_ms")
MAX_TOKENS = 1_000_000_000
MAX_LATENCY_MS = 86_400_000
PRICES: dict[str, dict[str, float]] = {
    "gpt-4o": {"input": 2.5, "output": 10},
    "gpt-4o*": {"input": 5, "output": 15},
    "gpt-4o-mini*": {"input": 0.15, "output": 0.6},
    "claude-*": {"input": 3, "output": 15},
}
ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ONLY_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture(name="settings")
def priced_settings(database_url: str) -> Settings:
    """The suite's settings, with PRICES (for a test module that imports it)."""
    return load_settings(
        _env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY, ai_prices=PRICES
    )


# --- helpers ---------------------------------------------------------------------------------


def at(minute: int) -> str:
    return f"{DAY}T10:{minute:02d}:00Z"


def reply(event_id: str, timestamp: str = at(0), /, **usage: Any) -> dict[str, Any]:
    """An assistant's message as /client/update takes it, with `usage` fields."""
    return (
        event(
            event_id=event_id, role="assistant", message="It ships in 3 days.", timestamp=timestamp
        )
        | usage
    )


async def post_events(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    response = await client.post("/client/batch", json={"events": list(events)})
    assert response.status_code == 200, response.text
    assert response.json()["new"] == len(events)


def usage_of(database_url: str) -> dict[str, tuple[Any, ...]]:
    """Each stored event's usage columns and properties, by event_id."""
    return {
        row["event_id"]: (*(row[name] for name in USAGE), row["properties"])
        for row in stored_events(database_url)
    }


async def ai_usage(
    client: httpx.AsyncClient, start: str = DAY, end: str = DAY, tz: str = "UTC"
) -> Any:
    params = {"start_date": start, "end_date": end, "tz": tz}
    response = await client.get("/analytics/ai", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def errors_of(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    """The {loc, msg, type} errors of a refusal: ours and Segment's in `detail`, PostHog's in
    `errors`."""
    assert response.status_code == status, response.text
    body = response.json()
    return list(body["errors"] if "errors" in body else body["detail"])


def assert_names(errors: list[dict[str, Any]], loc: list[Any], fragment: str) -> None:
    """The one error is at `loc`, its message holding `fragment`."""
    assert [error["loc"] for error in errors] == [loc], errors
    assert fragment in errors[0]["msg"], errors


def segment_chat(n: int, role: str, event_name: str = "message", /, **properties: Any) -> Any:
    """A Segment batch `track` of a chat message by `role`, as message n (minute n)."""
    chat = {"session_id": "s-1", "message": "Hi", "role": role, **properties}
    return {
        "type": "track",
        "userId": "user-1",
        "event": event_name,
        "messageId": f"seg-{n}",
        "timestamp": at(n),
        "properties": chat,
    }


def posthog_event(n: int, event_name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A PostHog event in session s-1, as message n (minute n)."""
    return {
        "event": event_name,
        "distinct_id": "user-1",
        "uuid": f"ph-{n}",
        "timestamp": at(n),
        "properties": {"$session_id": "s-1", **properties},
    }
