"""What the feedback module's tests share: answers and ratings, posting them, reading numbers."""

from datetime import date
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.helpers import event, stored_events

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
