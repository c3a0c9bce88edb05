"""GET /analytics/ai by example: per model, prices and costs, local days, bad ranges."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from plugin_analytics.config import load_settings
from tests.ai.usage_helpers import (
    DAY,
    MAX_TOKENS,
    ai_usage,
    at,
    post_events,
    priced_settings,  # noqa: F401 (the settings fixture, with PRICES)
    reply,
)
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import event

pytestmark = pytest.mark.anyio

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
