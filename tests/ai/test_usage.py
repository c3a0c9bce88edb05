"""Model usage of the assistant's replies (`model`, `input_tokens`, `output_tokens`,
`latency_ms`), over HTTP through the app on SQLite and PostgreSQL.

What is accepted is read back from the database: our own routes store the fields as sent; Segment
and PostHog take them out of an assistant message's properties and leave them in any other
event's. What is refused (a bad value, or usage on anything but an assistant message) names the
field and stores nothing of the request. GET /analytics/ai is checked by example and against a
brute force, its percentiles against PostgreSQL's own percentile_cont; AI_PRICES at the end.
"""

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from plugin_analytics.config import Settings, SettingsError, load_settings
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import empty, event, stored_events

pytestmark = pytest.mark.anyio

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


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The suite's settings, with PRICES."""
    return load_settings(
        _env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY, ai_prices=PRICES
    )


# --- helpers ---------------------------------------------------------------------------------


def at(minute: int) -> str:
    return f"{DAY}T10:{minute:02d}:00Z"


def reply(event_id: str, timestamp: str = at(0), **usage: Any) -> dict[str, Any]:
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


def segment_chat(n: int, role: str, event_name: str = "message", **properties: Any) -> Any:
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


# --- the brute force -------------------------------------------------------------------------


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont as its source computes it, in float8 throughout: the values
    at the floor and the ceiling of rank fraction * (n - 1), and linear between them."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low, high = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    return low + (high - low) * (rank - math.floor(rank))


def price_for(model: str | None, prices: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The model's own price, else that of `prefix*` for its longest prefix that has one."""
    if model is None:
        return None
    if model in prices:
        return prices[model]
    for length in range(len(model), -1, -1):
        if f"{model[:length]}*" in prices:
            return prices[f"{model[:length]}*"]
    return None


def dollars(input_tokens: int, output_tokens: int, price: dict[str, float]) -> Decimal:
    per_million = input_tokens * Decimal(str(price["input"]))
    per_million += output_tokens * Decimal(str(price["output"]))
    return per_million / 1_000_000


@dataclass(frozen=True)
class Reply:
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None
    at: datetime  # aware

    def body(self, n: int) -> dict[str, Any]:
        timestamp = self.at.isoformat().replace("+00:00", "Z")
        usage = {name: getattr(self, name) for name in USAGE}  # None is sent as null
        return reply(f"r-{n}", timestamp, **usage)


def model_report(model: str | None, replies: list[Reply], prices: Any) -> dict[str, Any]:
    inputs = sum(r.input_tokens or 0 for r in replies)
    outputs = sum(r.output_tokens or 0 for r in replies)
    latencies = [r.latency_ms for r in replies if r.latency_ms is not None]
    price = price_for(model, prices)
    return {
        "model": model,
        "messages": len(replies),
        "input_tokens": inputs,
        "output_tokens": outputs,
        "total_tokens": inputs + outputs,
        "timed_messages": len(latencies),
        "latency_p50_ms": percentile_cont(latencies, 0.5),
        "latency_p95_ms": percentile_cont(latencies, 0.95),
        "price": None if price is None else {k: float(v) for k, v in price.items()},
        "cost_usd": None if price is None else dollars(inputs, outputs, price),
    }


def expected_usage(
    replies: list[Reply], prices: Any, start: date, end: date, tz: str
) -> dict[str, Any]:
    """GET /analytics/ai's answer: the replies whose local date in `tz` is in [start, end]."""
    by_model: defaultdict[str | None, list[Reply]] = defaultdict(list)
    for r in replies:
        if start <= r.at.astimezone(ZoneInfo(tz)).date() <= end:
            by_model[r.model].append(r)
    models = [model_report(model, group, prices) for model, group in by_model.items()]
    models.sort(key=lambda m: (m["model"] is None, -m["messages"], m["model"] or ""))
    costs = [m["cost_usd"] for m in models if m["cost_usd"] is not None]
    for m in models:
        m["cost_usd"] = None if m["cost_usd"] is None else float(m["cost_usd"])
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "tz": tz,
        "assistant_messages": sum(m["messages"] for m in models),
        "input_tokens": sum(m["input_tokens"] for m in models),
        "output_tokens": sum(m["output_tokens"] for m in models),
        "cost_usd": float(sum(costs, Decimal(0))),
        "unpriced_models": [
            m["model"] for m in models if m["model"] and m["price"] is None and m["total_tokens"]
        ],
        "models": models,
    }


def assert_same_usage(got: dict[str, Any], want: dict[str, Any]) -> None:
    """`got` is `want`, every percentile to the last bit."""
    assert got == want


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


# --- GET /analytics/ai by example --------------------------------------------------------------


def report(
    model: str | None,
    messages: int,
    tokens: tuple[int, int],
    latency: tuple[int, float | None, float | None],
    price: tuple[float, float] | None,
    cost: float | None,
) -> dict[str, Any]:
    """One model's report: tokens (input, output), latency (timed, p50, p95), price (in, out)."""
    return {
        "model": model,
        "messages": messages,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "total_tokens": sum(tokens),
        "timed_messages": latency[0],
        "latency_p50_ms": latency[1],
        "latency_p95_ms": latency[2],
        "price": None if price is None else {"input": price[0], "output": price[1]},
        "cost_usd": cost,
    }


async def test_usage_per_model_by_example(client: httpx.AsyncClient) -> None:
    dated = "gpt-4o-2024-08-06"
    await post_events(
        client,
        reply("a1", model="gpt-4o", input_tokens=100, output_tokens=40, latency_ms=300),
        reply("a2", model="gpt-4o", input_tokens=200, output_tokens=60, latency_ms=500),
        reply("b1", model=dated, input_tokens=10, output_tokens=20),
        reply("b2", model=dated),
        reply("b3", model=dated, input_tokens=30),
        reply("c1", model="llama-3.1-8b", input_tokens=1000, output_tokens=500, latency_ms=1200),
        reply("c2", model="llama-3.1-8b"),
        reply("d1", model="mistral-small", latency_ms=50),  # no price, but no tokens either
        reply("e1", model="claude-3-5-sonnet", input_tokens=0, output_tokens=0),
        reply("n1", input_tokens=7, output_tokens=3, latency_ms=10),
        reply("n2", latency_ms=30),
        reply("n3"),
        reply("n4"),
        # none of these counts: the user's messages, clicks, the days around
        event(event_id="q1", timestamp=at(1)),
        event(event_id="k1", event_type="cta_click", cta_id="buy", timestamp=at(2)),
        reply("late", "2026-05-05T00:00:00Z", model="gpt-4o", input_tokens=1, latency_ms=9),
        reply("early", "2026-05-03T23:59:59.999999Z", model="gpt-4o", input_tokens=1),
    )
    assert await ai_usage(client) == {
        "start_date": DAY,
        "end_date": DAY,
        "tz": "UTC",
        "assistant_messages": 13,
        "input_tokens": 40 + 300 + 1000 + 7,
        "output_tokens": 20 + 100 + 500 + 3,
        "cost_usd": 0.00225,
        "unpriced_models": ["llama-3.1-8b"],
        "models": [
            report(dated, 3, (40, 20), (0, None, None), (5, 15), 0.0005),
            report("gpt-4o", 2, (300, 100), (2, 400.0, 490.0), (2.5, 10), 0.00175),
            report("llama-3.1-8b", 2, (1000, 500), (1, 1200.0, 1200.0), None, None),
            report("claude-3-5-sonnet", 1, (0, 0), (0, None, None), (3, 15), 0.0),
            report("mistral-small", 1, (0, 0), (1, 50.0, 50.0), None, None),
            report(None, 4, (7, 3), (2, 20.0, 29.0), None, None),
        ],
    }


async def test_exact_price_first_else_longest_prefix(client: httpx.AsyncClient) -> None:
    million = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    models = [
        "gpt-4o",  # its own price, though gpt-4o* matches too
        "gpt-4o-2024-08-06",  # gpt-4o*
        "gpt-4o-mini",  # gpt-4o-mini*: a prefix may be the whole name
        "gpt-4o-mini-2024-07-18",  # gpt-4o-mini*, longer than gpt-4o*
        "claude-3-haiku",  # claude-*
        "claude",  # no: claude-* needs the dash
        "gpt-4",  # no: shorter than the prefix
        "GPT-4o",  # no: names are case-sensitive
        None,  # a reply without a model has no price
    ]
    await post_events(client, *(reply(f"r-{n}", model=m, **million) for n, m in enumerate(models)))
    usage = await ai_usage(client)
    assert {m["model"]: (m["price"], m["cost_usd"]) for m in usage["models"]} == {
        "gpt-4o": ({"input": 2.5, "output": 10}, 12.5),
        "gpt-4o-2024-08-06": ({"input": 5, "output": 15}, 20),
        "gpt-4o-mini": ({"input": 0.15, "output": 0.6}, 0.75),
        "gpt-4o-mini-2024-07-18": ({"input": 0.15, "output": 0.6}, 0.75),
        "claude-3-haiku": ({"input": 3, "output": 15}, 18),
        "claude": (None, None),
        "gpt-4": (None, None),
        "GPT-4o": (None, None),
        None: (None, None),
    }
    assert usage["unpriced_models"] == ["GPT-4o", "claude", "gpt-4"]  # by name, not by price
    assert usage["cost_usd"] == 52  # 12.5 + 20 + 0.75 + 0.75 + 18


async def test_cost_is_exact_with_prices_from_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AI_PRICES", '{"gpt-4o-mini*": {"input": 0.15, "output": 0.6}}')
    settings = load_settings(_env_file=None, database_url=database_url, admin_api_key=ADMIN_KEY)
    async with client_for(settings) as client:
        await post_events(
            client,
            reply("one", model="gpt-4o-mini", input_tokens=1_234_567),
            reply("two", model="gpt-4o-mini-2024-07-18", input_tokens=1_234_567),
            reply("three", model="gpt-4o-mini-2024-07-18", output_tokens=7_654_321),
        )
        usage = await ai_usage(client)
    costs = {m["model"]: m["cost_usd"] for m in usage["models"]}
    # In floats: 1_234_567 * 0.15 / 1e6 + 7_654_321 * 0.6 / 1e6 == 4.777777649999999
    assert costs == {"gpt-4o-mini-2024-07-18": 4.77777765, "gpt-4o-mini": 0.18518505}
    assert usage["cost_usd"] == 4.9629627  # 4.77777765 + 0.18518505


async def test_token_sums_go_past_32_bits(client: httpx.AsyncClient) -> None:
    most = {"input_tokens": MAX_TOKENS, "output_tokens": MAX_TOKENS}
    await post_events(client, *(reply(f"r-{n}", model="gpt-4o", **most) for n in range(3)))
    usage = await ai_usage(client)
    assert (usage["input_tokens"], usage["output_tokens"]) == (3 * MAX_TOKENS, 3 * MAX_TOKENS)
    assert usage["models"][0]["total_tokens"] == 6 * MAX_TOKENS
    assert usage["cost_usd"] == 3_000 * 2.5 + 3_000 * 10


async def test_whole_local_days_in_the_time_zone(client: httpx.AsyncClient) -> None:
    # In Kathmandu (+05:45) 2026-03-10 is [03-09 18:15Z, 03-10 18:15Z).
    await post_events(
        client,
        reply("before", "2026-03-09T18:14:59.999999Z", model="m-before"),
        reply("first", "2026-03-09T18:15:00Z", model="m-first"),
        reply("last", "2026-03-10T18:14:59.999999Z", model="m-last"),
        reply("after", "2026-03-10T18:15:00Z", model="m-after"),
    )

    async def models(start: str, end: str, tz: str) -> list[str]:
        usage = await ai_usage(client, start, end, tz)
        assert (usage["start_date"], usage["end_date"], usage["tz"]) == (start, end, tz)
        assert usage["assistant_messages"] == len(usage["models"])
        return [m["model"] for m in usage["models"]]

    kathmandu = "Asia/Kathmandu"
    assert await models("2026-03-10", "2026-03-10", kathmandu) == ["m-first", "m-last"]
    assert await models("2026-03-09", "2026-03-10", kathmandu) == ["m-before", "m-first", "m-last"]
    assert await models("2026-03-11", "2026-03-11", kathmandu) == ["m-after"]
    assert await models("2026-03-10", "2026-03-10", "UTC") == ["m-after", "m-last"]
    assert await models("2026-03-09", "2026-03-09", "UTC") == ["m-before", "m-first"]
    assert await models("2026-03-12", "2026-03-20", "UTC") == []


async def test_nothing_to_report(client: httpx.AsyncClient) -> None:
    await post_events(client, event(event_id="q", timestamp=at(0)))
    assert await ai_usage(client) == {
        "start_date": DAY,
        "end_date": DAY,
        "tz": "UTC",
        "assistant_messages": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0,
        "unpriced_models": [],
        "models": [],
    }


async def test_default_range_is_the_last_seven_days(client: httpx.AsyncClient) -> None:
    now = reply("now", model="gpt-4o")
    del now["timestamp"]  # stored as received: now
    await post_events(client, now)
    response = await client.get("/analytics/ai", headers=ADMIN)
    assert response.status_code == 200, response.text
    usage = response.json()
    today = datetime.now(UTC).date()
    assert (usage["start_date"], usage["end_date"], usage["tz"]) == (
        (today - timedelta(days=6)).isoformat(),
        today.isoformat(),
        "UTC",
    )
    assert [(m["model"], m["messages"]) for m in usage["models"]] == [("gpt-4o", 1)]


async def test_admin_key_is_required(client: httpx.AsyncClient) -> None:
    params = {"start_date": DAY, "end_date": DAY}
    assert (await client.get("/analytics/ai", params=params)).status_code == 401
    wrong = {"Authorization": "Bearer not-the-admin-key-at-all"}
    assert (await client.get("/analytics/ai", params=params, headers=wrong)).status_code == 401


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start_date": "2026-05-04", "end_date": "2026-05-03"}, "before start_date"),
        ({"start_date": "2020-01-01", "end_date": "2026-01-01"}, "longer than 3 years"),
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone"),
    ],
)
async def test_bad_range_is_400(
    client: httpx.AsyncClient, params: dict[str, str], fragment: str
) -> None:
    response = await client.get("/analytics/ai", params=params, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]


# --- GET /analytics/ai against the brute force -------------------------------------------------

MODELS = (None, "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "claude-3-haiku", "llama-3.1-8b")
ZONES = ("UTC", "Asia/Kathmandu", "America/Santiago", "Europe/London")
FIRST_DAY = date(2026, 3, 27)  # London moves its clocks on the 29th
DAYS = 4
# Every local midnight of the window in every zone, and the microsecond before it.
MIDNIGHTS = sorted(
    datetime.combine(FIRST_DAY + timedelta(days=n), datetime.min.time(), ZoneInfo(zone)).astimezone(
        UTC
    )
    - timedelta(microseconds=before)
    for zone in ZONES
    for n in range(DAYS + 1)
    for before in (0, 1)
)
PROPERTY = hypothesis_settings(
    max_examples=100,
    deadline=None,
    # The database is emptied at the start of every example, so sharing the fixtures is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

moments = st.one_of(
    st.sampled_from(MIDNIGHTS),
    st.integers(0, DAYS * 86_400_000_000 - 1).map(
        lambda us: (
            datetime.combine(FIRST_DAY, datetime.min.time(), UTC) + timedelta(microseconds=us)
        )
    ),
)
tokens = st.none() | st.integers(0, 50) | st.integers(0, MAX_TOKENS)
latencies = st.one_of(
    st.none(),
    st.sampled_from([0, 250, 250.0, 1000.5]),  # ties
    st.integers(0, MAX_LATENCY_MS),
    st.floats(0, MAX_LATENCY_MS),
)


@st.composite
def replies(draw: st.DrawFn) -> list[Reply]:
    """Replies from a few models, so that each has several."""
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True))
    reply = st.builds(Reply, st.sampled_from(models), tokens, tokens, latencies, moments)
    return draw(st.lists(reply, max_size=60))


async def post_replies(client: httpx.AsyncClient, replies: list[Reply]) -> None:
    """The replies, and a question and a click beside each, which must not count."""
    bodies = [r.body(n) for n, r in enumerate(replies)]
    noise = [
        event(event_id=f"{kind}-{n}", event_type=kind, cta_id="buy", timestamp=body["timestamp"])
        for n, body in enumerate(bodies)
        for kind in ("message", "cta_click")
    ]
    await post_events(client, *bodies, *noise)


@ONLY_SQLITE
@PROPERTY
@given(
    sent=replies(),
    zone=st.sampled_from(ZONES),
    first=st.integers(-1, DAYS),
    days=st.integers(1, 3),
)
async def test_usage_matches_brute_force(
    client: httpx.AsyncClient, engine: Engine, sent: list[Reply], zone: str, first: int, days: int
) -> None:
    empty(engine)
    if sent:
        await post_replies(client, sent)
    start = FIRST_DAY + timedelta(days=first)
    end = start + timedelta(days=days - 1)
    got = await ai_usage(client, start.isoformat(), end.isoformat(), zone)
    assert_same_usage(got, expected_usage(sent, PRICES, start, end, zone))


STORED_USAGE = """
SELECT event_id, model, input_tokens, output_tokens, latency_ms FROM event WHERE role = 'assistant'
"""
SERVER_PERCENTILES = """
SELECT model,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
FROM event
WHERE event_type = 'message' AND role = 'assistant' AND latency_ms IS NOT NULL
GROUP BY model
"""


@ONLY_POSTGRES
async def test_percentiles_are_postgresqls_percentile_cont(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    draw = random.Random(2026)
    noon = datetime(2026, 5, 4, 12, tzinfo=UTC)
    odd = [0.1, 1e-7, 5e-324, MAX_LATENCY_MS, 123_456.789]
    sent = [
        Reply(
            model=draw.choice(MODELS),
            input_tokens=draw.choice([None, draw.randint(0, MAX_TOKENS)]),
            output_tokens=draw.choice([None, draw.randint(0, 5000)]),
            latency_ms=draw.choice([None, draw.uniform(0, 5000), draw.randint(0, 20), *odd]),
            at=noon + timedelta(seconds=n),
        )
        for n in range(300)
    ]
    await post_replies(client, sent)
    with engine.connect() as connection:
        stored = connection.execute(text(STORED_USAGE)).all()
        server = {
            model: (p50, p95) for model, p50, p95 in connection.execute(text(SERVER_PERCENTILES))
        }
    assert dict((event_id, usage) for event_id, *usage in stored) == {
        f"r-{n}": [r.model, r.input_tokens, r.output_tokens, r.latency_ms]
        for n, r in enumerate(sent)
    }
    timed: defaultdict[str | None, list[float]] = defaultdict(list)
    for r in sent:
        if r.latency_ms is not None:
            timed[r.model].append(r.latency_ms)
    # The brute force is PostgreSQL's own, to the last bit.
    assert server == {
        model: (percentile_cont(values, 0.5), percentile_cont(values, 0.95))
        for model, values in timed.items()
    }
    got = await ai_usage(client)
    assert_same_usage(got, expected_usage(sent, PRICES, noon.date(), noon.date(), "UTC"))
    assert {m["model"]: m["latency_p50_ms"] for m in got["models"]} == {
        model: p50 for model, (p50, _) in server.items()
    }


async def test_p95_is_exactly_postgresqls(client: httpx.AsyncClient) -> None:
    latencies = [5.0, 0.0, 1000.0, 1.0, 2.0, 0.0, 3.0, 4.0]
    await post_events(client, *(reply(f"r-{n}", latency_ms=ms) for n, ms in enumerate(latencies)))
    [timed] = (await ai_usage(client))["models"]
    assert timed["latency_p50_ms"] == 2.5
    # PostgreSQL: SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY v) -> 651.7499999999994
    assert timed["latency_p95_ms"] == percentile_cont(latencies, 0.95) == 651.7499999999994


# --- AI_PRICES -------------------------------------------------------------------------------


@pytest.fixture
def no_prices(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("AI_PRICES", raising=False)
    return monkeypatch


def test_prices_from_the_environment_are_exact_decimals(no_prices: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).ai_prices == {}
    no_prices.setenv(
        "AI_PRICES",
        '{"gpt-4o": {"input": 2.5, "output": 10}, "gpt-4o-mini*": {"input": 0.15, '
        '"output": "0.6"}, "free*": {"input": 0, "output": 0}}',
    )
    prices = load_settings(_env_file=None).ai_prices
    assert {key: (p.input, p.output) for key, p in prices.items()} == {
        "gpt-4o": (Decimal("2.5"), Decimal(10)),
        "gpt-4o-mini*": (Decimal("0.15"), Decimal("0.6")),
        "free*": (Decimal(0), Decimal(0)),
    }


@pytest.mark.parametrize(
    ("prices", "fragment"),
    [
        ('{"gpt-4o": {"input": -0.01, "output": 10}}', "greater than or equal to 0"),
        ('{"gpt-4o": {"input": 2.5, "output": 10, "cached": 1.25}}', "Extra inputs"),
        ('{"gpt-4o": {"input": 2.5}}', "Field required"),
        ('{"gpt-*4o": {"input": 2.5, "output": 10}}', "'gpt-*4o': a key is a model name"),
        ('{"gpt-4o**": {"input": 2.5, "output": 10}}', "'gpt-4o**': a key is a model name"),
        ('{"": {"input": 2.5, "output": 10}}', "'': a key is a model name"),
        ('{"gpt-4o": {"input": "NaN", "output": 10}}', "finite number"),
        ('{"gpt-4o": 2.5}', "valid dictionary"),
        ('[["gpt-4o", {"input": 2.5, "output": 10}]]', "valid dictionary"),
    ],
)
def test_bad_prices_are_named(no_prices: pytest.MonkeyPatch, prices: str, fragment: str) -> None:
    no_prices.setenv("AI_PRICES", prices)
    with pytest.raises(SettingsError, match="AI_PRICES") as refused:
        load_settings(_env_file=None)
    assert fragment in str(refused.value)


def test_a_bad_price_given_directly_is_named() -> None:
    with pytest.raises(SettingsError, match="AI_PRICES"):
        load_settings(_env_file=None, ai_prices={"gpt-4o": {"input": 1, "output": -1}})


def test_prices_that_are_not_json_are_named(no_prices: pytest.MonkeyPatch) -> None:
    no_prices.setenv("AI_PRICES", '{"gpt-4o": {"input": 2.5,')
    with pytest.raises(SettingsError, match="AI_PRICES"):
        load_settings(_env_file=None)
